"""`VersionPolicy`: TF Serving's latest / all / specific version policies, parsed and applied."""

from mmlm.serving.version_policy import VersionPolicy, VersionPolicyKind
from mmlm.testing import TestCase


class VersionPolicyTest(TestCase):
    def test_parse_and_select(self):
        present = [5, 1, 3, 2]
        for text, kind, selected in (
            ("latest", VersionPolicyKind.LATEST, [5]),
            ("latest:2", VersionPolicyKind.LATEST, [3, 5]),
            ("latest:9", VersionPolicyKind.LATEST, [1, 2, 3, 5]),
            ("all", VersionPolicyKind.ALL, [1, 2, 3, 5]),
            ("specific:3,1,4", VersionPolicyKind.SPECIFIC, [1, 3]),
        ):
            with self.subTest(text=text):
                policy = VersionPolicy.parse(text)
                self.assertIs(kind, policy.kind)
                self.assertEqual(selected, policy.select(present))
                self.assertEqual(policy, VersionPolicy.parse(str(policy)))
        self.assertEqual([], VersionPolicy().select([]))

    def test_bad_policies_name_the_accepted_forms(self):
        for text in ("newest", "latest:0", "latest:x", "specific", "specific:1,a", "all:2", ""):
            with (
                self.subTest(text=text),
                self.assertRaisesRegex(ValueError, "expected latest, latest:N, all or spec"),
            ):
                VersionPolicy.parse(text)
