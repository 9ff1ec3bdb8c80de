"""Knowledge distillation from a frozen teacher: embedding, in-batch similarity and logit losses.

Three complementary signals, each a function of tensors (the task runs both models):

- `embedding_distillation_loss`: 1 - cos(student, teacher) per row. It pulls the student's
  embedding of each example onto the teacher's (feature distillation, the strongest single term
  in CLIP-KD, Yang et al. 2024). Needs equal widths: a task whose widths differ maps the
  student's embedding first (a learned linear map in the task, not here).
- `similarity_distillation_loss`: KL(teacher ‖ student) between the rows of the two models'
  in-batch cross-modal similarity matrices (relational distillation). It is free of the
  embedding width and matches what retrieval ranks: which candidates a query prefers and by how
  much, including the "near misses" (same colour, other shape) that the one-hot InfoNCE target
  ignores.
- `logit_distillation_loss`: Hinton et al.'s temperature-softened KL(teacher ‖ student) over the
  vocabulary at every scored decoder position, times T² (so its gradients keep their size as
  T changes).

Every loss is a mean over the global batch (`global_batch_mean`): under several replicas the
replicas' mean equals the single-device value, and the similarity rows range over the candidates
of every replica, as InfoNCE's do.
"""

from mmlm.backend import tf
from mmlm.objectives.contrastive import gather_candidates, present_pairs
from mmlm.objectives.reduction import global_batch_mean

# Added to the logits of absent candidates: finite, so that their teacher probability is exactly
# 0 and contributes 0 (not NaN) to the KL, and a row with no valid candidate stays finite.
_ABSENT_LOGIT = -1e9


def _row_weights(reference, valid):
    """(B,) float32 weights from an optional bool `valid` (None: every row)."""
    if valid is None:
        return tf.ones(tf.shape(reference)[:1], tf.float32)
    return tf.cast(tf.cast(valid, tf.bool), tf.float32)


def _check_widths(student, teacher, what, remedy):
    """Raises a ValueError naming `what` when the static last dimensions differ."""
    s, t = student.shape[-1], teacher.shape[-1]
    if s is not None and t is not None and s != t:
        raise ValueError(
            f"{what}: the student's last dimension is {s}, the teacher's {t}; {remedy}"
        )


def _kl_rows(teacher_logits, student_logits):
    """(…,) KL(softmax(teacher) ‖ softmax(student)) over the last axis, float32."""
    teacher_log_probs = tf.nn.log_softmax(teacher_logits, axis=-1)
    student_log_probs = tf.nn.log_softmax(student_logits, axis=-1)
    return tf.reduce_sum(
        tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1
    )


def embedding_distillation_loss(student, teacher, valid=None):
    """Mean cosine distance between the student's and the teacher's embedding of each row.

    On L2-normalized vectors 1 - cos(s, t) = ||s - t||² / 2, so this is the MSE of the
    normalized embeddings, halved.

    Args:
        student: (B, D) student embeddings, any float dtype (normalized here).
        teacher: (B, D) teacher embeddings of the same rows (normalized here); treated as
            constants.
        valid: optional (B,) bool, rows where the modality is present. None: every row.

    Returns:
        float32 scalar: the mean over valid rows of the global batch of 1 - cos; 0 when no
        row is valid.

    Raises:
        ValueError: the widths differ.
    """
    _check_widths(
        student,
        teacher,
        "embedding_distillation_loss",
        "map the student's embeddings to the teacher's width first (a learned linear map in the "
        "task), or use `similarity_distillation_loss`, which needs none.",
    )
    student = tf.math.l2_normalize(tf.cast(student, tf.float32), axis=-1)  # (B, D)
    teacher = tf.stop_gradient(tf.math.l2_normalize(tf.cast(teacher, tf.float32), axis=-1))
    per_row = 1.0 - tf.reduce_sum(student * teacher, axis=-1)  # (B,)
    weights = _row_weights(student, valid)
    return global_batch_mean(tf.reduce_sum(per_row * weights), tf.reduce_sum(weights))


def similarity_distillation_loss(
    student_a, student_b, teacher_a, teacher_b, logit_scale, valid=None, temperature=1.0
):
    """KL(teacher ‖ student) of the in-batch similarity distributions of two modalities.

    For each valid query row i of modality a, the softmax over valid candidates j of
    `logit_scale * <a_i, b_j> / temperature` is computed for the teacher and the student, and
    the KL between them taken; likewise from b to a. The widths of the two models may differ.

    Args:
        student_a, student_b: (B, Ds) L2-normalized student embeddings of the two modalities.
        teacher_a, teacher_b: (B, Dt) L2-normalized teacher embeddings (constants).
        logit_scale: scalar 1 / InfoNCE temperature applied to both models' cosine
            similarities (the teacher's own learned scale is not part of its saved backbone).
        valid: optional (B,) bool, rows where both modalities are present: only they are
            queries or candidates. None: every row.
        temperature: softening temperature T of both distributions; the KL is multiplied by T².

    Returns:
        float32 scalar: the mean over valid rows of the global batch of
        (KL(a → b) + KL(b → a)) / 2 · T²; 0 when no row is valid.
    """
    cast = [tf.cast(x, tf.float32) for x in (student_a, student_b, teacher_a, teacher_b)]
    student_a, student_b = cast[:2]
    teacher_a, teacher_b = (tf.stop_gradient(x) for x in cast[2:])
    weights = _row_weights(student_a, valid)
    valid = weights > 0
    scale = tf.cast(logit_scale, tf.float32) / temperature
    candidates_sa, candidates_sb, candidates_valid, _ = gather_candidates(
        student_a, student_b, valid
    )
    candidates_ta, candidates_tb, _, _ = gather_candidates(teacher_a, teacher_b, valid)
    absent = tf.where(candidates_valid, 0.0, _ABSENT_LOGIT)[None, :]  # (1, B_all)

    def logits(queries, candidates):
        return scale * tf.matmul(queries, candidates, transpose_b=True) + absent  # (B, B_all)

    per_row = 0.5 * (
        _kl_rows(logits(teacher_a, candidates_tb), logits(student_a, candidates_sb))
        + _kl_rows(logits(teacher_b, candidates_ta), logits(student_b, candidates_sa))
    )  # (B,)
    total = tf.reduce_sum(per_row * weights) * temperature**2
    return global_batch_mean(total, tf.reduce_sum(weights))


def pairwise_similarity_distillation_losses(
    student, teacher, present, logit_scale, temperature=1.0
):
    """`similarity_distillation_loss` for every pair of `PAIRS` whose modalities are given.

    Args:
        student: dict modality -> (B, Ds) L2-normalized student embeddings.
        teacher: dict modality -> (B, Dt) L2-normalized teacher embeddings; needs every key of
            `student`.
        present: dict modality -> (B,) bool, rows where that modality is present.
        logit_scale: scalar 1 / InfoNCE temperature of both models' similarities.
        temperature: softening temperature T (the losses are multiplied by T²).

    Returns:
        dict "a_b" -> float32 scalar, in `PAIRS` order, over rows where both are present.
    """
    missing = sorted(set(student) - set(teacher))
    if missing:
        raise ValueError(f"The teacher has no embeddings of modalities {missing}.")
    return {
        f"{a}_{b}": similarity_distillation_loss(
            student[a], student[b], teacher[a], teacher[b], logit_scale, valid, temperature
        )
        for a, b, valid in present_pairs(student, present)
    }


def logit_distillation_loss(student_logits, teacher_logits, weights, temperature=1.0):
    """Temperature-softened KL(teacher ‖ student) over the vocabulary, per scored token, × T².

    Args:
        student_logits: (B, L, V) student decoder logits, any float dtype.
        teacher_logits: (B, L, V) teacher decoder logits at the same positions (constants).
        weights: (B, L) 0/1 floats or bool: the positions scored (real, non-padding targets of
            rows that are captioned), as for the captioning cross-entropy.
        temperature: softening temperature T of both distributions.

    Returns:
        float32 scalar: sum of weighted per-token KL · T² over the global batch's weight; 0 when
        every weight is 0.

    Raises:
        ValueError: the vocabulary sizes differ.
    """
    _check_widths(
        student_logits,
        teacher_logits,
        "logit_distillation_loss",
        "teacher and student must share one vocabulary.",
    )
    student_logits = tf.cast(student_logits, tf.float32) / temperature  # (B, L, V)
    teacher_logits = tf.stop_gradient(tf.cast(teacher_logits, tf.float32)) / temperature
    weights = tf.cast(weights, tf.float32)  # (B, L)
    per_token = _kl_rows(teacher_logits, student_logits)  # (B, L)
    total = tf.reduce_sum(per_token * weights) * temperature**2
    return global_batch_mean(total, tf.reduce_sum(weights))
