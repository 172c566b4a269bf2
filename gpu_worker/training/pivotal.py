"""Pivotal tuning of SDXL: a UNet LoRA plus new token embeddings, trained together.

The recipe is diffusers' "advanced DreamBooth LoRA SDXL" (train_dreambooth_lora_sdxl_advanced.py,
"the recipe" below), rewritten as a library class the GPU worker can step, checkpoint, resume and
preview inside a job. It is not imported or shelled out to (it needs torchvision and accelerate).

What follows the recipe: new tokens in both tokenizers/text encoders, trained for the first
`embedding_train_fraction` of the steps and then frozen (the "pivot"); a LoRA (rank r, alpha r,
Gaussian init) on the UNet attention projections; AdamW (or bitsandbytes AdamW8bit) with its
betas/eps/weight decay and one learning rate per parameter group; gradient clipping at 1.0; DDPM
noise from the pipeline's own schedule; epsilon or v-prediction targets; Min-SNR-gamma weighting;
SDXL's add_time_ids; the recipe's retraction (original rows reset, new rows' spread kept near the
vocabulary's).

What differs, and why:
- The new tokens' rows are their own small float32 parameters, substituted into the embedding
  output by a forward hook, instead of making the whole (49408-row) embedding matrices trainable:
  the optimizer state is two [n_tokens, dim] tensors instead of ~100M numbers, and the original
  rows cannot receive an update at all. After every step the trained rows are written into the
  matrices (so the plain pipeline sees them) and every other row is reset from a snapshot (the
  recipe's retraction, kept as a guarantee).
- The new tokens start from the initializer word's embedding (the average of its tokens' rows,
  as in the original textual inversion paper), not from noise: training starts from "a dog".
- VAE latents are encoded once (the recipe's --cache_latents); each step samples from the cached
  posterior with the tuner's own generator, so a resumed run sees the same samples.
- After the pivot the text encoders are frozen, so the captions' embeddings are computed once.
- Everything random comes from two seeded generators whose states are in the checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from gpu_worker.training.adapter_files import adapter_metadata, embeddings_file, lora_file
from gpu_worker.training.settings import TrainingSettings
from gpu_worker.training.tokens import add_tokens, check_tokens, encoder_pairs, present_tokens, remove_tokens

logger = logging.getLogger(__name__)

TRAINING_ADAPTER = "ontop_pivotal_training"
STATE_FORMAT = "pivotal-state-v1"
LORA_TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]  # the recipe's UNet attention projections
# The recipe's AdamW hyper-parameters (--adam_beta1/2, --adam_epsilon, --adam_weight_decay).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
ADAM_WEIGHT_DECAY = 1e-4
MAX_GRAD_NORM = 1.0  # the recipe's --max_grad_norm
LORA_FILE_DTYPE = torch.float16  # halves the file; LoRA weights are small numbers, fp16 keeps them


@dataclass(frozen=True)
class TrainingExample:
    image: PIL.Image.Image  # already square, any size (resized to settings.resolution inside)
    caption: str  # e.g. "a photo of <s0><s1> dog"


class CheckpointMismatch(ValueError):
    pass


class PivotalTuner:
    """Trains one personal model on a (shared, long-lived) SDXL pipeline; close() gives it back."""

    def __init__(
        self,
        pipeline,
        settings: TrainingSettings,
        examples: list[TrainingExample],
        *,
        tokens: tuple[str, ...],
        initializer_word: str,
        seed: int,
        total_steps: int | None = None,
    ) -> None:
        tokens = tuple(tokens)
        check_tokens(tokens)
        if not examples:
            raise ValueError("Training needs at least one example.")
        if not any(token in example.caption for example in examples for token in tokens):
            raise ValueError(f"No caption mentions the new tokens {tokens}: they could not learn anything.")
        self.pipeline = pipeline
        self.settings = settings
        self.examples = list(examples)
        self.tokens = tokens
        self.seed = seed
        self.total_steps = total_steps if total_steps is not None else settings.steps
        if self.total_steps < 1:
            raise ValueError("total_steps must be at least 1.")
        self.step = 0
        # The recipe: int(train_text_encoder_ti_frac * epochs); here in optimisation steps.
        self.embedding_steps = int(settings.embedding_train_fraction * self.total_steps)
        self._closed = False

        unet = pipeline.unet
        self.device = unet.device
        self._on_cuda = self.device.type == "cuda"
        self._autocast_dtype = (
            {"bf16": torch.bfloat16, "fp16": torch.float16}.get(settings.mixed_precision) if self._on_cuda else None
        )
        if settings.mixed_precision != "no" and not self._on_cuda:
            logger.info("mixed precision %s ignored: training runs on %s", settings.mixed_precision, self.device)

        from diffusers import DDPMScheduler

        # The pipeline's sampler (Euler) is for inference; training adds noise the DDPM way with
        # the same beta schedule, as the recipe does with the model's scheduler config.
        self.noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
        self._alphas_cumprod = self.noise_scheduler.alphas_cumprod.to(self.device, torch.float32)
        self.prediction_type = self.noise_scheduler.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"Unsupported prediction type {self.prediction_type!r}.")

        for module in (unet, pipeline.vae, pipeline.text_encoder, pipeline.text_encoder_2):
            module.requires_grad_(False)
            module.eval()

        # What close() undoes, set before anything can fail: a constructor that fails half-way
        # (out of memory while encoding, say) must not leave its adapter or tokens on the pipeline.
        self._checkpointing_on = False
        self._snapshots: list[torch.Tensor] = []
        self._tokens_added_here: list[bool] = []
        self.optimizer = None
        self._frozen_prompt_cache = None
        try:
            self._add_new_tokens(initializer_word)
            self._add_lora()
            if settings.gradient_checkpointing and self._on_cuda:
                unet.enable_gradient_checkpointing()
                self._checkpointing_on = True
            self._encode_examples()
            self._build_optimizer()
        except BaseException:
            self.close()
            raise
        self._sample_generator = torch.Generator("cpu").manual_seed(seed)  # example order, timesteps
        self._noise_generator = torch.Generator(self.device).manual_seed(seed + 1)  # latents, noise
        self._order: list[int] = []  # this epoch's remaining example indices
        self._frozen_prompt_cache: tuple[torch.Tensor, torch.Tensor] | None = None
        unet.train()

    # ----------------------------------------------------------------------------- set-up

    def _add_new_tokens(self, initializer_word: str) -> None:
        """Adds (or re-uses) the tokens in both pairs and starts them at the initializer word."""
        self._token_ids: list[list[int]] = []
        self._snapshots: list[torch.Tensor] = []  # each embedding matrix before training
        self._tokens_added_here: list[bool] = []
        self.new_token_rows: list[torch.nn.Parameter] = []
        self._std_token_embedding: list[torch.Tensor] = []
        for tokenizer, text_encoder in encoder_pairs(self.pipeline):
            self._tokens_added_here.append(not present_tokens(tokenizer, self.tokens))
            ids = add_tokens(tokenizer, text_encoder, self.tokens)
            embedding = text_encoder.get_input_embeddings()
            embedding.requires_grad_(False)
            weight = embedding.weight
            word_ids = tokenizer(initializer_word, add_special_tokens=False).input_ids
            if not word_ids:
                raise ValueError(f"The initializer word {initializer_word!r} has no tokens.")
            start = weight[word_ids].float().mean(dim=0)
            original_rows = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
            original_rows[ids] = False
            self._std_token_embedding.append(weight[original_rows].float().std())
            self._snapshots.append(weight.detach().clone())
            self._token_ids.append(ids)
            self.new_token_rows.append(torch.nn.Parameter(start.repeat(len(ids), 1).clone()))
        self._write_token_rows()

    def _add_lora(self) -> None:
        from peft import LoraConfig

        unet = self.pipeline.unet
        if TRAINING_ADAPTER in getattr(unet, "peft_config", {}):
            unet.delete_adapters(TRAINING_ADAPTER)  # left behind by a run that was not closed
        config = LoraConfig(
            r=self.settings.rank,
            lora_alpha=self.settings.rank,  # the recipe: alpha = rank, so the LoRA scale is 1
            init_lora_weights="gaussian",
            target_modules=LORA_TARGET_MODULES,
        )
        # peft draws the initial LoRA A matrices from torch's global generator: seed a private fork.
        devices = [self.device] if self._on_cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            unet.add_adapter(config, adapter_name=TRAINING_ADAPTER)
        unet.enable_adapters()  # a LoRA manager may have disabled adapters for a no-style job
        unet.set_adapter(TRAINING_ADAPTER)
        self.lora_parameters: dict[str, torch.nn.Parameter] = {}
        for name, parameter in unet.named_parameters():
            if "lora_" in name and f".{TRAINING_ADAPTER}." in name:
                # Trainable weights stay float32 even when the frozen UNet is half precision.
                parameter.data = parameter.data.to(torch.float32)
                parameter.requires_grad_(True)
                self.lora_parameters[name] = parameter
            else:
                parameter.requires_grad_(False)
        if not self.lora_parameters:
            raise RuntimeError("The UNet has no attention projections to put a LoRA on.")

    def _encode_examples(self) -> None:
        """The VAE is frozen: each example's latent posterior (mean, std) is computed once."""
        vae = self.pipeline.vae
        size = self.settings.resolution
        # The SDXL VAE overflows in float16 (its config says force_upcast): encode in float32.
        upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
        vae_dtype = vae.dtype
        if upcast:
            vae.to(torch.float32)
        means, stds = [], []
        try:
            with torch.no_grad():
                for example in self.examples:
                    pixels = _pixels(example.image, size).to(self.device, vae.dtype)
                    posterior = vae.encode(pixels).latent_dist
                    means.append(posterior.mean.float())
                    stds.append(posterior.std.float())
        finally:
            if upcast:
                vae.to(vae_dtype)
        self._latent_means = torch.cat(means)
        self._latent_stds = torch.cat(stds)
        config = vae.config
        self._latent_shift = self._latent_scale = None
        if getattr(config, "latents_mean", None) is not None and getattr(config, "latents_std", None) is not None:
            self._latent_shift = torch.tensor(config.latents_mean, device=self.device).view(1, -1, 1, 1)
            self._latent_scale = torch.tensor(config.latents_std, device=self.device).view(1, -1, 1, 1)
        self._scaling_factor = float(config.scaling_factor)

        self._caption_ids: list[torch.Tensor] = []
        for tokenizer, _ in encoder_pairs(self.pipeline):
            self._caption_ids.append(
                tokenizer(
                    [example.caption for example in self.examples],
                    padding="max_length",
                    max_length=tokenizer.model_max_length,
                    truncation=True,
                    return_tensors="pt",
                ).input_ids
            )
        # SDXL micro-conditioning: the square was resized whole (original = target, no crop).
        self._time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32, device=self.device)

    def _build_optimizer(self) -> None:
        groups = [
            {"params": list(self.lora_parameters.values()), "lr": self.settings.unet_lr},
            {"params": self.new_token_rows, "lr": self.settings.embedding_lr},
        ]
        if self.settings.use_8bit_adam and self._on_cuda:
            import bitsandbytes as bnb  # optional; settings only enable it when importable

            optimizer_class = bnb.optim.AdamW8bit
        else:
            optimizer_class = torch.optim.AdamW
        self.optimizer = optimizer_class(groups, betas=ADAM_BETAS, eps=ADAM_EPSILON, weight_decay=ADAM_WEIGHT_DECAY)
        # float16 autocast needs loss scaling; bfloat16 has float32's range and does not.
        self._scaler = torch.amp.GradScaler("cuda") if self._autocast_dtype == torch.float16 else None

    # ----------------------------------------------------------------------------- training

    @property
    def training_embeddings(self) -> bool:
        return self.step < self.embedding_steps

    def train_step(self) -> float:
        """One optimisation step over batch_size × gradient_accumulation examples; the mean loss."""
        if self._closed:
            raise RuntimeError("This tuner is closed.")
        train_embeddings = self.training_embeddings
        self.optimizer.zero_grad(set_to_none=True)
        accumulation = self.settings.gradient_accumulation
        total = 0.0
        for _ in range(accumulation):
            loss = self._loss(self._next_batch(), train_embeddings) / accumulation
            if self._scaler is not None:
                self._scaler.scale(loss).backward()
            else:
                loss.backward()
            total += float(loss.detach())
        if self._scaler is not None:
            self._scaler.unscale_(self.optimizer)
        trainable = list(self.lora_parameters.values()) + (self.new_token_rows if train_embeddings else [])
        torch.nn.utils.clip_grad_norm_(trainable, MAX_GRAD_NORM)
        if self._scaler is not None:
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            self.optimizer.step()
        # After the pivot the rows get no gradient (None), so AdamW leaves them (and their decay) alone.
        if train_embeddings:
            self._renormalise_new_rows()
            self._write_token_rows()
        self.step += 1
        return total

    def _next_batch(self) -> list[int]:
        """batch_size example indices, every example once per epoch in a seeded shuffled order."""
        batch = []
        for _ in range(self.settings.batch_size):
            if not self._order:
                self._order = torch.randperm(len(self.examples), generator=self._sample_generator).tolist()
            batch.append(self._order.pop(0))
        return batch

    def _autocast(self):
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self._autocast_dtype)

    def _loss(self, batch: list[int], train_embeddings: bool) -> torch.Tensor:
        timesteps = torch.randint(
            0, self.noise_scheduler.config.num_train_timesteps, (len(batch),), generator=self._sample_generator
        )
        return self._weighted_loss(batch, train_embeddings, timesteps.to(self.device), self._noise_generator)

    @torch.no_grad()
    def evaluation_loss(self, *, seed: int = 0, timesteps_per_example: int = 8) -> float:
        """The training loss on a fixed set of (example, timestep, noise) triples: every example at
        evenly spaced timesteps, seeded noise, posterior means. Unlike train_step's loss it does not
        jump with the random timesteps, so it shows whether training fits the examples. Leaves the
        training generators untouched."""
        unet = self.pipeline.unet
        unet.eval()
        try:
            generator = torch.Generator(self.device).manual_seed(seed)
            steps = self.noise_scheduler.config.num_train_timesteps
            spaced = torch.linspace(0, steps - 1, timesteps_per_example).round().long().to(self.device)
            losses = []
            for example_index in range(len(self.examples)):
                for timestep in spaced:
                    batch = [example_index]
                    loss = self._weighted_loss(batch, False, timestep.view(1), generator, sample_latents=False)
                    losses.append(float(loss))
            return float(np.mean(losses))
        finally:
            unet.train()

    def _weighted_loss(
        self,
        batch: list[int],
        train_embeddings: bool,
        timesteps: torch.Tensor,
        noise_generator: torch.Generator,
        *,
        sample_latents: bool = True,
    ) -> torch.Tensor:
        unet = self.pipeline.unet
        index = torch.tensor(batch, device=self.device)
        latents = self._latent_means[index]
        if sample_latents:
            stds = self._latent_stds[index]
            latents = latents + stds * torch.randn(
                latents.shape, generator=noise_generator, device=self.device, dtype=latents.dtype
            )
        if self._latent_shift is not None:
            latents = (latents - self._latent_shift) * self._scaling_factor / self._latent_scale
        else:
            latents = latents * self._scaling_factor
        noise = torch.randn(latents.shape, generator=noise_generator, device=self.device, dtype=latents.dtype)
        noisy_latents = self.noise_scheduler.add_noise(latents, noise, timesteps)

        with self._autocast():
            prompt_embeds, pooled_embeds = self._prompt_embeddings(batch, train_embeddings)
            model_dtype = unet.dtype
            prediction = unet(
                noisy_latents.to(model_dtype),
                timesteps,
                prompt_embeds.to(model_dtype),
                added_cond_kwargs={
                    "text_embeds": pooled_embeds.to(model_dtype),
                    "time_ids": self._time_ids.repeat(len(batch), 1).to(model_dtype),
                },
            ).sample
        if self.prediction_type == "epsilon":
            target = noise
        else:
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        per_example = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        return (per_example * self._loss_weights(timesteps)).mean()

    def _loss_weights(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Min-SNR-gamma (Hang et al. 2023, sec. 3.4/4.2): min(SNR, γ)/SNR for an epsilon target,
        min(SNR, γ)/(SNR + 1) for a v target; all ones when γ is 0."""
        gamma = self.settings.min_snr_gamma
        if gamma <= 0:
            return torch.ones(timesteps.shape, device=self.device)
        alphas_cumprod = self._alphas_cumprod[timesteps]
        snr = alphas_cumprod / (1.0 - alphas_cumprod)
        clipped = torch.clamp(snr, max=gamma)
        return clipped / (snr + 1.0) if self.prediction_type == "v_prediction" else clipped / snr

    def _prompt_embeddings(self, batch: list[int], train_embeddings: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The UNet's text conditioning (both encoders' penultimate hidden states side by side) and
        the second encoder's pooled projection, as StableDiffusionXLPipeline.encode_prompt builds them."""
        if train_embeddings:
            return self._encode_captions(batch)
        if self._frozen_prompt_cache is None:
            with torch.no_grad():
                self._frozen_prompt_cache = self._encode_captions(list(range(len(self.examples))))
        prompt_embeds, pooled = self._frozen_prompt_cache
        index = torch.tensor(batch, device=self.device)
        return prompt_embeds[index], pooled[index]

    def _encode_captions(self, batch: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        hidden_states, pooled = [], None
        for pair_index, (_, text_encoder) in enumerate(encoder_pairs(self.pipeline)):
            input_ids = self._caption_ids[pair_index][batch].to(text_encoder.device)
            with self._substituted_rows(pair_index):
                output = text_encoder(input_ids, output_hidden_states=True)
            hidden_states.append(output.hidden_states[-2])
            pooled = output[0]  # the last encoder's (CLIPTextModelWithProjection) text_embeds
        return torch.cat(hidden_states, dim=-1), pooled

    @contextlib.contextmanager
    def _substituted_rows(self, pair_index: int) -> Iterator[None]:
        """While active, the embedding lookup returns the trainable rows for the new tokens, so
        their gradient reaches `new_token_rows` (and nothing else in the encoder)."""
        embedding = encoder_pairs(self.pipeline)[pair_index][1].get_input_embeddings()
        token_ids = torch.tensor(self._token_ids[pair_index], device=embedding.weight.device)
        rows = self.new_token_rows[pair_index]

        def substitute(module, inputs, output):
            matches = inputs[0].unsqueeze(-1) == token_ids  # [batch, length, n_tokens]
            replacement = matches.to(output.dtype) @ rows.to(output.dtype)
            return torch.where(matches.any(dim=-1, keepdim=True), replacement, output)

        handle = embedding.register_forward_hook(substitute)
        try:
            yield
        finally:
            handle.remove()

    @torch.no_grad()
    def _renormalise_new_rows(self) -> None:
        """The recipe's retract step, second half: pull the new rows' spread a tenth of the way
        (in log scale) back to the vocabulary's, so they stay in the range CLIP was trained on."""
        for rows, std in zip(self.new_token_rows, self._std_token_embedding, strict=True):
            rows.mul_((std / rows.std()) ** 0.1)

    @torch.no_grad()
    def _write_token_rows(self) -> None:
        """Retraction: every embedding row back to its snapshot, then the new rows written in.
        Only the new tokens ever differ from the pipeline as it was before training."""
        for pair_index, (_, text_encoder) in enumerate(encoder_pairs(self.pipeline)):
            weight = text_encoder.get_input_embeddings().weight
            weight.copy_(self._snapshots[pair_index])
            weight[self._token_ids[pair_index]] = self.new_token_rows[pair_index].to(weight.dtype)
        self._frozen_prompt_cache = None

    # ----------------------------------------------------------------------------- checkpoints

    def state_bytes(self) -> bytes:
        """A resumable checkpoint as safetensors: tensors (LoRA, new rows, optimizer moments, RNG
        states) plus a JSON header (step, example order, optimizer hyper-parameters). No pickle."""
        tensors: dict[str, torch.Tensor] = {}
        for name, parameter in self.lora_parameters.items():
            tensors[f"lora/{name}"] = parameter.detach()
        for pair_index, rows in enumerate(self.new_token_rows):
            tensors[f"tokens/{pair_index}"] = rows.detach()
        optimizer_state = self.optimizer.state_dict()
        scalars: dict[str, dict[str, object]] = {}
        for param_index, state in optimizer_state["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer/{param_index}/{key}"] = value
                else:
                    scalars.setdefault(str(param_index), {})[key] = value
        tensors["rng/sample"] = self._sample_generator.get_state()
        tensors["rng/noise"] = self._noise_generator.get_state()
        header = {
            "step": self.step,
            "total_steps": self.total_steps,
            "tokens": list(self.tokens),
            "rank": self.settings.rank,
            "order": self._order,
            "param_groups": optimizer_state["param_groups"],
            "optimizer_scalars": scalars,
            "scaler": self._scaler.state_dict() if self._scaler is not None else None,
        }
        tensors = {key: value.detach().to("cpu").contiguous().clone() for key, value in tensors.items()}
        return save_safetensors(tensors, metadata={"ontop_format": STATE_FORMAT, "state": json.dumps(header)})

    def load_state(self, data: bytes) -> None:
        """Continues exactly where `state_bytes` was taken (same examples, settings and seed)."""
        from gpu_worker.training.adapter_files import file_metadata

        metadata = file_metadata(data)
        if metadata.get("ontop_format") != STATE_FORMAT:
            raise CheckpointMismatch("Not a pivotal-tuning checkpoint.")
        header = json.loads(metadata["state"])
        if tuple(header["tokens"]) != self.tokens or header["rank"] != self.settings.rank:
            raise CheckpointMismatch("The checkpoint was taken with other tokens or another LoRA rank.")
        tensors = load_safetensors(data)
        lora_names = {key.removeprefix("lora/") for key in tensors if key.startswith("lora/")}
        if lora_names != set(self.lora_parameters):
            raise CheckpointMismatch("The checkpoint's LoRA does not fit this UNet.")
        with torch.no_grad():
            for name, parameter in self.lora_parameters.items():
                parameter.copy_(tensors[f"lora/{name}"])
            for pair_index, rows in enumerate(self.new_token_rows):
                rows.copy_(tensors[f"tokens/{pair_index}"])
        self._write_token_rows()

        state: dict[int, dict[str, object]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer/"):
                _, param_index, name = key.split("/", 2)
                state.setdefault(int(param_index), {})[name] = value
        for param_index, values in header["optimizer_scalars"].items():
            state.setdefault(int(param_index), {}).update(values)
        param_groups = header["param_groups"]
        for group in param_groups:
            if "betas" in group:
                group["betas"] = tuple(group["betas"])
        self.optimizer.load_state_dict({"state": state, "param_groups": param_groups})
        if self._scaler is not None and header["scaler"]:
            self._scaler.load_state_dict(header["scaler"])
        self._sample_generator.set_state(tensors["rng/sample"])
        self._noise_generator.set_state(tensors["rng/noise"])
        self._order = list(header["order"])
        self.step = int(header["step"])
        self.total_steps = int(header["total_steps"])
        self.embedding_steps = int(self.settings.embedding_train_fraction * self.total_steps)

    # ----------------------------------------------------------------------------- results

    def adapter_files(self, *, base_model: str) -> tuple[bytes, bytes]:
        """(LoRA safetensors, embeddings safetensors) of the current weights; see adapter_files.py."""
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        unet = self.pipeline.unet
        lora_state = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet, adapter_name=TRAINING_ADAPTER))
        lora_metadata = adapter_metadata(
            base_model=base_model, tokens=self.tokens, rank=self.settings.rank, kind="lora"
        )
        lora = lora_file(
            lora_state,
            lora_config=unet.peft_config[TRAINING_ADAPTER].to_dict(),
            metadata=lora_metadata,
            dtype=LORA_FILE_DTYPE,
        )
        embeddings_metadata = {**lora_metadata, "ontop_kind": "embeddings"}
        embeddings = embeddings_file(list(self.new_token_rows), metadata=embeddings_metadata)
        return lora, embeddings

    @torch.no_grad()
    def preview(self, *, prompt: str, seed: int, size: int, steps: int) -> PIL.Image.Image:
        """A picture from the pipeline as it is now (current LoRA and token rows active)."""
        unet = self.pipeline.unet
        unet.eval()
        try:
            generator = torch.Generator(self.device).manual_seed(seed)
            result = self.pipeline(
                prompt=prompt, height=size, width=size, num_inference_steps=steps, generator=generator
            )
            return result.images[0]
        finally:
            unet.train()

    def close(self) -> None:
        """Gives the pipeline back as it was: the training LoRA deleted, the tokens this run added
        removed (tokens that were there before get their old rows back), everything frozen and in
        eval mode. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        pipeline = self.pipeline
        unet = pipeline.unet
        if self._checkpointing_on:
            unet.disable_gradient_checkpointing()
        if TRAINING_ADAPTER in getattr(unet, "peft_config", {}):
            unet.delete_adapters(TRAINING_ADAPTER)
        with torch.no_grad():
            for snapshot, (_, text_encoder) in zip(self._snapshots, encoder_pairs(pipeline), strict=False):
                text_encoder.get_input_embeddings().weight.copy_(snapshot)
        if any(self._tokens_added_here):
            remove_tokens(pipeline, self.tokens)
        for module in (unet, pipeline.vae, pipeline.text_encoder, pipeline.text_encoder_2):
            module.requires_grad_(False)
            module.eval()
        # Drop the big references now rather than when the job object is collected.
        self.optimizer = None
        self._snapshots = []
        self.lora_parameters = {}
        self._frozen_prompt_cache = None
        if self._on_cuda:
            torch.cuda.empty_cache()


def _pixels(image: PIL.Image.Image, size: int) -> torch.Tensor:
    """A [1, 3, size, size] tensor in [-1, 1] (the VAE's input range), without torchvision."""
    rgb = image.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), PIL.Image.Resampling.LANCZOS)
    array = np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()
