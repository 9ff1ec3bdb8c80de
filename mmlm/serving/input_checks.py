"""Whether an export checks the size of its inputs in the graph.

`mmlm export` puts size checks inside the signatures that decode or tokenize what a client
sends (`mmlm.serving.image_decoding`, `mmlm.serving.text_limits`): a PNG declaring more
pixels than `data.image.max_pixels`, a WAV longer than `data.audio.max_seconds`, a text row
over `data.text.max_bytes` fails with a message naming the limit. Exports made before a check
existed lack it and decode (or tokenize) whatever they are sent; the server cannot add the
check, since the limit is the export's own. `missing_input_checks` finds these signatures by
reading the SavedModel's graph: the functions a signature calls, followed through every
function-valued attribute (calls, loops, conditionals), either hold the check's message or
do not.
"""

import dataclasses

# Input name of mmlm's signatures -> (the reason key in its check's message, what happens
# to such an input without the check).
CHECKED_INPUTS = {
    "image_bytes": (
        "image_too_large",
        "decodes images of any size (a PNG of 18 KB can declare 12000 x 12000 pixels, 430 MB "
        "decoded)",
    ),
    "audio_wav": ("audio_too_long", "decodes WAV files of any length"),
    "text": ("text_too_long", "tokenizes text rows of any size"),
}


@dataclasses.dataclass(frozen=True)
class MissingCheck:
    """A signature input without the size check `mmlm export` puts on it.

    Attributes:
        signature: the signature key.
        input: the input's name (`image_bytes`, `audio_wav` or `text`).
        reason: the check's reason key (`image_too_large`, ...).
        consequence: what the signature does without it.
    """

    signature: str
    input: str
    reason: str
    consequence: str


def missing_input_checks(meta_graph, signature_defs):
    """The `MissingCheck`s of `signature_defs` ({key: SignatureDef}) in `meta_graph` (the
    SavedModel's `MetaGraphDef`): each signature taking an input of `CHECKED_INPUTS` whose
    graph lacks that input's check."""
    library = {
        function.signature.name: function for function in meta_graph.graph_def.library.function
    }
    nodes = {node.name: node for node in meta_graph.graph_def.node}
    missing = []
    for key, signature_def in sorted(signature_defs.items()):
        checked = [name for name in sorted(signature_def.inputs) if name in CHECKED_INPUTS]
        if not checked:
            continue
        roots = [
            nodes[t.name.split(":")[0]]
            for t in signature_def.outputs.values()
            if t.name.split(":")[0] in nodes
        ]
        strings = _strings_reachable(roots, library)
        for name in checked:
            reason, consequence = CHECKED_INPUTS[name]
            if not any(reason.encode() in value for value in strings):
                missing.append(MissingCheck(key, name, reason, consequence))
    return missing


def _strings_reachable(roots, library):
    """Every string attribute value (constants, assert and format templates) of the nodes
    `roots` and of the functions they reach."""
    strings, seen, pending = set(), set(), list(roots)
    while pending:
        node = pending.pop()
        for attr in node.attr.values():
            strings.update(attr.list.s)
            if attr.s:
                strings.add(attr.s)
            strings.update(attr.tensor.string_val)
            for function in [attr.func, *attr.list.func]:
                if function.name and function.name not in seen and function.name in library:
                    seen.add(function.name)
                    pending.extend(library[function.name].node_def)
    return strings


def describe_missing_checks(missing, where):
    """The warning the server logs for `missing` (a list of `MissingCheck`) of the export
    `where` (a name and directory), or "" if nothing is missing."""
    if not missing:
        return ""
    lines = [
        f"warning: {where} was exported without mmlm's in-graph input size checks; "
        "a client's input is not limited there:"
    ]
    for check in missing:
        lines.append(
            f"  signature '{check.signature}', input '{check.input}': no {check.reason} check, "
            f"so it {check.consequence}"
        )
    lines.append(
        "  export the model again with this mmlm (mmlm export --format savedmodel) to get the "
        "checks; meanwhile keep such clients away from this server (docs/deployment.md)"
    )
    return "\n".join(lines)
