"""The model, objective, trainer, compression, export and runtime sections.

They start with the settings the data pipeline already uses (masking rates, seeds, strategy);
the model, trainer and compression issues extend them.
"""

import dataclasses
import enum


class ModelPreset(enum.Enum):
    TINY = "tiny"  # the demo: trains in minutes on 2 CPU cores
    BASE = "base"  # a realistic small model


class Pooling(enum.Enum):
    CLASS_TOKEN = "class_token"  # the output at a prepended class token
    MEAN = "mean"  # the mean over valid (unmasked) positions


class AttentionImplementation(enum.Enum):
    """How every tower computes attention (both exact)."""

    DENSE = "dense"  # keras' MultiHeadAttention: (B, heads, L, L) scores kept for the backward
    CHUNKED = "chunked"  # query chunks recomputed in the backward pass: O(chunk · L) memory


class PatchPositions(enum.Enum):
    """Position encodings of image and spectrogram patches."""

    LEARNED = "learned"  # a learned table, one vector per patch
    SINCOS = "sincos"  # fixed 2-D sine-cosine of the patch's row and column (MAE-style)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model section. Size fields left at 0 take the preset's value (mmlm/models/presets.py).

    Attributes:
        preset: size preset of every tower.
        hidden_dim: width of every tower (0 = preset).
        num_layers: Transformer layers of each encoder tower (0 = preset).
        num_heads: attention heads (0 = preset).
        intermediate_dim: feed-forward width (0 = preset).
        fusion_layers: cross-modal fusion blocks (0 = preset).
        decoder_layers: text decoder layers (0 = preset).
        dropout: dropout rate inside the Transformer blocks.
        pooling: how encoders pool their sequence into one vector.
        patch_positions: position encodings of image and spectrogram patches.
        embedding_dim: size of the shared, L2-normalized embedding space.
        image_patch_size: side of the square image patches.
        image_stem_channels: channels of a convolutional stem before the image patch projection,
            one 3x3 stride-2 ReLU conv per entry (`image_patch_size` must be divisible by
            2^len); empty: the patches are projected linearly (plain ViT).
        spectrogram_patch_size: side of the square (time x mel) spectrogram patches.
        attention_implementation: attention of every tower (text, image, audio, fusion,
            decoder): dense, or exact in recomputed query chunks, which trains long sequences
            in a fraction of the memory (docs/performance.md, "Memory-efficient attention").
        attention_chunk_size: queries per chunk of the chunked attention.
        image_patch_dropout: share of the image patches the ViT drops in its training passes
            (FLIP-style token dropping: cheaper contrastive steps; the fusion and captioning
            of those passes see the kept patches too, masked image modelling all of them);
            evaluation and export see every patch. 0 disables; FLIP uses 0.5-0.75.
        audio_patch_dropout: the same for the spectrogram patches of the audio encoder (a
            share of each clip's valid, non-padding patches).
    """

    preset: ModelPreset = ModelPreset.TINY
    hidden_dim: int = 0
    num_layers: int = 0
    num_heads: int = 0
    intermediate_dim: int = 0
    fusion_layers: int = 0
    decoder_layers: int = 0
    dropout: float = 0.0
    pooling: Pooling = Pooling.MEAN
    patch_positions: PatchPositions = PatchPositions.LEARNED
    embedding_dim: int = 128
    image_patch_size: int = 8
    image_stem_channels: tuple[int, ...] = ()
    spectrogram_patch_size: int = 16
    attention_implementation: AttentionImplementation = AttentionImplementation.DENSE
    attention_chunk_size: int = 128
    image_patch_dropout: float = 0.0
    audio_patch_dropout: float = 0.0


class ContrastiveLoss(enum.Enum):
    """The contrastive loss of every modality pair."""

    INFONCE = "infonce"  # symmetric softmax cross-entropy over the batch (CLIP)
    SIGMOID = "sigmoid"  # a binary sigmoid loss per pair, learned scale and bias (SigLIP)


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """Pretraining objectives and the masking they need from preprocessing.

    Attributes:
        contrastive_weight: weight of the contrastive loss over every present modality pair.
        contrastive_loss: InfoNCE (CLIP) or the pairwise sigmoid loss (SigLIP).
        masked_lm_weight: weight of masked language modelling.
        masked_image_weight: weight of masked image patch reconstruction.
        masked_audio_weight: weight of masked spectrogram patch reconstruction.
        captioning_weight: weight of the decoder's causal LM loss.
        mlm_selection_rate: share of tokens selected for masked LM.
        mlm_max_selections: most tokens selected per sequence.
        image_mask_ratio: share of image patches masked.
        audio_mask_ratio: share of spectrogram patches masked.
        initial_temperature: starting softmax temperature of InfoNCE (learned from there).
        max_logit_scale: upper bound of the learned 1 / temperature.
        sigmoid_initial_temperature: starting temperature of the sigmoid loss (SigLIP: 0.1,
            its t' = log 10); `initial_temperature` is InfoNCE's.
        sigmoid_initial_bias: starting value of the sigmoid loss's learned logit bias (SigLIP:
            -10, so that the many negative pairs start with a small loss).
        caption_modality_dropout: share of training rows captioned from only the image or only
            the audio (so captioning also teaches the audio encoder what is said).
        captioning_batch_fraction: share of each training batch's rows that the captioning
            objective decodes (the fusion and the decoder run on those rows only; every other
            objective sees the whole batch). Evaluation captions every row.
        hard_negative_words: groups of interchangeable words, each a space-separated string
            (e.g. "circle rectangle triangle"). When set, every training text also yields a
            hard negative with one such word swapped for another of its group, and the other
            modalities must rank the true text above all of them (NegCLIP-style). Each word
            must be one token of the vocabulary. Empty: no hard negatives.
        exchange_negative_words: groups of words, like `hard_negative_words`, whose members
            trade places: every training text with two different words of one group (the
            colours of its two objects, say) also yields a hard negative with those two words
            exchanged, which only the binding of attributes to objects tells apart. Empty: none.
    """

    contrastive_weight: float = 1.0
    contrastive_loss: ContrastiveLoss = ContrastiveLoss.INFONCE
    masked_lm_weight: float = 1.0
    masked_image_weight: float = 1.0
    masked_audio_weight: float = 1.0
    captioning_weight: float = 1.0
    mlm_selection_rate: float = 0.15
    mlm_max_selections: int = 8
    image_mask_ratio: float = 0.75
    audio_mask_ratio: float = 0.5
    initial_temperature: float = 0.07
    max_logit_scale: float = 100.0
    sigmoid_initial_temperature: float = 0.1
    sigmoid_initial_bias: float = -10.0
    caption_modality_dropout: float = 0.5
    captioning_batch_fraction: float = 1.0
    hard_negative_words: tuple[str, ...] = ()
    exchange_negative_words: tuple[str, ...] = ()


class Decay(enum.Enum):
    """Learning-rate decay after the linear warmup."""

    COSINE = "cosine"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"
    CONSTANT = "constant"


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Trainer section.

    Attributes:
        steps: optimizer steps (with `epochs`, the most steps).
        epochs: when > 0, train this many passes over the training split instead: steps =
            ceil(epochs x train examples / global batch size), at most `steps`; the run's
            config.yaml records the steps it took. 0: train `steps` steps.
        learning_rate: peak learning rate (reached after the warmup).
        warmup_steps: linear warmup steps from 0.
        decay: decay of the learning rate after the warmup.
        final_learning_rate_ratio: learning rate at `steps` as a share of the peak (cosine,
            linear, exponential).
        weight_decay: decoupled weight decay of AdamW (not applied to biases, norms, embeddings
            of position/class/mask tokens).
        clip_global_norm: clip gradients to this global norm (0 disables).
        accumulation_steps: micro-batches per optimizer step; each batch is split into this
            many micro-batches whose gradients are summed (same global batch, less memory).
        batch_ramp_up_steps: steps trained with `initial_batch_size` before the full batch
            (0 disables).
        initial_batch_size: global batch size during the ramp-up.
        eval_every: steps between evaluations (one Keras "epoch").
        eval_batches: validation batches per evaluation (0 = the whole split).
        checkpoint_every: steps between checkpoints (resume point after a crash).
        early_stopping_patience: evaluations without improvement of the validation loss
            before stopping (0 disables).
        log_every: steps between TensorBoard scalar writes.
        seed: seed of weight initialisation and dropout.
    """

    steps: int = 1000
    epochs: float = 0.0
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    decay: Decay = Decay.COSINE
    final_learning_rate_ratio: float = 0.0
    weight_decay: float = 0.01
    clip_global_norm: float = 1.0
    accumulation_steps: int = 1
    batch_ramp_up_steps: int = 0
    initial_batch_size: int = 0
    eval_every: int = 250
    eval_batches: int = 0
    checkpoint_every: int = 200
    early_stopping_patience: int = 0
    log_every: int = 10
    seed: int = 42


class Quantization(enum.Enum):
    """Post-training quantization of a `.tflite` export."""

    NONE = "none"  # float32
    FLOAT16 = "float16"  # float16 weights
    DYNAMIC = "dynamic"  # int8 weights, float activations (dynamic-range)
    INT8 = "int8"  # int8 weights and activations, calibrated on training data
    # int8 like INT8 except the ops of `compression.int8_float_scopes` (the log-mel frontend and
    # LayerNorms by default), which stay float32 (litert-quantizer; keeps audio)
    SELECTIVE_INT8 = "selective_int8"


# The log-mel frontend (whose power spectrum 8 bits cannot hold) and every LayerNorm (leaving
# them float raised the trained demo's audio embedding cosine to the float file from 0.990 to
# 0.994 and its minimum over the test split from 0.85 to 0.96, for 12 kB).
INT8_FLOAT_SCOPES = ("/frontend/", "layer_norm/", "final_norm/", "/norm/")


class PruningSchedule(enum.Enum):
    """How sparsity grows while pruning (TFMOT schedules)."""

    POLYNOMIAL = "polynomial"  # PolynomialDecay from initial to final sparsity
    CONSTANT = "constant"  # ConstantSparsity at the final sparsity


@dataclasses.dataclass(frozen=True)
class CompressionConfig:
    """Compression section: pruning, quantization-aware training, distillation, the report.

    Attributes:
        pruning_sparsities: final sparsities of the pruned variants of the report.
        pruning_schedule: how sparsity grows during fine-tuning.
        pruning_initial_sparsity: starting sparsity of the polynomial schedule.
        pruning_frequency: steps between mask updates.
        structured_2_4: add a 2:4 structured variant to the report: 50 % sparsity as 2 zeros
            in every 4 consecutive input weights of every Dense, EinsumDense and Conv kernel
            (embedding tables stay dense), fine-tuned like the unstructured
            `pruning_sparsities` variants, which it joins rather than replaces.
        finetune_steps: optimizer steps of fine-tuning with the pretraining objectives while
            pruning (and of quantization-aware training).
        finetune_learning_rate: peak learning rate of that fine-tuning.
        qat: include the quantization-aware-training variant.
        distill_teacher_workdir: run directory of a trained teacher (e.g. a `base` pretraining
            run); empty disables distillation.
        distill_steps: optimizer steps of the student (0 = `trainer.steps`).
        distill_embedding_weight: weight of the embedding distillation loss.
        distill_logit_weight: weight of the decoder logit distillation loss.
        distill_temperature: softmax temperature of logit distillation.
        distilled_workdir: run directory of a distilled student (`mmlm distill`) to include
            in the report; empty leaves it out.
        representative_examples: training examples that calibrate full-integer quantization.
        selective_int8: include the `selective_int8` variant (full int8 except
            `int8_float_scopes`, which stay float32).
        int8_float_scopes: regexes of the op scopes (output tensor names, e.g.
            `audio_embedding_model/audio_encoder/frontend/log_mel_spectrogram/Log`) that
            `selective_int8` leaves in float32; each must match some op. The default is the
            log-mel frontend and every LayerNorm (measured in docs/performance.md).
        latency_runs: timed batch-1 interpreter calls per signature (the median is reported).
        eval_examples: test examples the report evaluates (0 = the whole split).
    """

    pruning_sparsities: tuple[float, ...] = (0.5, 0.8)
    pruning_schedule: PruningSchedule = PruningSchedule.POLYNOMIAL
    pruning_initial_sparsity: float = 0.0
    pruning_frequency: int = 10
    structured_2_4: bool = False
    finetune_steps: int = 300
    finetune_learning_rate: float = 3e-4
    qat: bool = True
    distill_teacher_workdir: str = ""
    distill_steps: int = 0
    distill_embedding_weight: float = 1.0
    distill_logit_weight: float = 1.0
    distill_temperature: float = 2.0
    distilled_workdir: str = ""
    representative_examples: int = 128
    selective_int8: bool = True
    int8_float_scopes: tuple[str, ...] = INT8_FLOAT_SCOPES
    latency_runs: int = 50
    eval_examples: int = 0


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Export section (SavedModel and TFLite).

    Attributes:
        output_dir: where exported models are written.
        quantize: quantization of the `.tflite` the main job exports.
        caption_max_length: tokens the in-graph greedy caption decoder generates at most
            (0 = the text sequence length).
    """

    output_dir: str = "saved_models"
    quantize: Quantization = Quantization.DYNAMIC
    caption_max_length: int = 0


class TaskKind(enum.Enum):
    PRETRAINING = "pretraining"
    GENERATION = "generation"
    CLASSIFICATION = "classification"


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """Task section: what `mmlm finetune` trains on top of a pretrained backbone.

    A generation task (captioning, speech recognition, translation, question answering) is
    the decoder trained with the causal LM loss to write `target_text` conditioned on the
    fusion of `conditioning` (and of `source_text`, fed to the text encoder). A classification
    task is a linear head on the pooled output of `modality`'s encoder.

    Attributes:
        kind: `pretraining` (the self-supervised objectives; `mmlm pretrain`), `generation` or
            `classification`.
        conditioning: modalities the fusion sees besides the source text ("image", "audio").
        source_text: text feature fed to the text encoder ("" = none; "text" for translation).
        target_text: text feature the decoder writes ("text", or an extra text feature such as
            "text_es").
        eval_examples: test examples `mmlm evaluate` generates for (0 = the whole split).
        modality: the encoder a classification task reads ("text", "image", "audio").
        label_feature: the label a classification task predicts (a batch key).
        label_index: column of a (B, K) label (e.g. 0: the first object's colour).
        num_classes: classes of the label.
        num_labelled: semi-supervised runs: only the training examples whose `index` feature
            is below this keep their label (0 = every example; sources with an `index`).
        pseudo_labels: a JSON file of `mmlm pseudo-label` whose labels the training examples
            it names take (added to the labelled ones; "" = none).
    """

    kind: TaskKind = TaskKind.PRETRAINING
    conditioning: tuple[str, ...] = ("image", "audio")
    source_text: str = ""
    target_text: str = "text"
    eval_examples: int = 0
    modality: str = "image"
    label_feature: str = ""
    label_index: int = 0
    num_classes: int = 0
    num_labelled: int = 0
    pseudo_labels: str = ""


class DecodingStrategy(enum.Enum):
    GREEDY = "greedy"
    TEMPERATURE = "temperature"
    TOP_K = "top_k"
    TOP_P = "top_p"
    BEAM = "beam"


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """Generation section: defaults of `mmlm generate` and of the exported beam signature.

    Attributes:
        strategy: decoding strategy of `mmlm generate` (the SavedModel exports greedy and
            beam signatures).
        max_length: token buffer, start token and prompt included (0 = the text sequence
            length).
        temperature: softmax temperature of the sampling strategies.
        top_k: candidates kept by top-k sampling.
        top_p: probability mass kept by nucleus sampling.
        num_beams: hypotheses kept per row by beam search.
        length_penalty: GNMT length-penalty exponent of beam search (0 = total log-probability).
        seed: sampling seed (-1 = unseeded).
        jit_compile: compile `mmlm evaluate`'s decoding (the fusion and the token loop) with
            XLA: on 2 CPU cores the tiny model's cached greedy decoding runs about 7x faster.
            Sampling draws other random numbers under XLA than without it.
    """

    strategy: DecodingStrategy = DecodingStrategy.GREEDY
    max_length: int = 0
    temperature: float = 1.0
    top_k: int = 10
    top_p: float = 0.9
    num_beams: int = 4
    length_penalty: float = 0.6
    seed: int = -1
    jit_compile: bool = True


class Strategy(enum.Enum):
    DEFAULT = "default"
    MIRRORED = "mirrored"
    MULTI_WORKER_MIRRORED = "multi_worker_mirrored"
    TPU = "tpu"
    PARAMETER_SERVER = "parameter_server"


class Precision(enum.Enum):
    FLOAT32 = "float32"
    MIXED_BFLOAT16 = "mixed_bfloat16"
    MIXED_FLOAT16 = "mixed_float16"
    # mixed_bfloat16 without XLA where the CPU has native bf16 (AVX512_BF16 / AMX), float32
    # with XLA otherwise (mmlm/training/precision.py); the run's log says what was chosen.
    AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Runtime section.

    Attributes:
        strategy: the `tf.distribute` strategy.
        precision: Keras mixed precision policy, or `auto` (chosen for this machine's CPU;
            auto also chooses `jit_compile`).
        jit_compile: compile train steps with XLA (ignored, with a log line, under `auto`).
        tpu_address: TPU resolver address (with `strategy=tpu`).
        num_parallel_calls: tf.data parallelism (0 = AUTOTUNE).
        num_devices: with `strategy=mirrored` on a machine without accelerators, split the
            CPU into this many logical devices (0 = use the visible devices as they are).
        steps_per_execution: train steps per `tf.function` call.
        recompute_blocks: recompute every Transformer block's activations in the backward
            pass instead of keeping them (activation checkpointing): far less training memory
            for long sequences, about a third more compute; needs `model.dropout=0`. Pairs
            with `model.attention_implementation=chunked` (docs/performance.md).
    """

    strategy: Strategy = Strategy.DEFAULT
    precision: Precision = Precision.FLOAT32
    jit_compile: bool = False
    tpu_address: str = ""
    num_parallel_calls: int = 0
    num_devices: int = 0
    steps_per_execution: int = 1
    recompute_blocks: bool = False
