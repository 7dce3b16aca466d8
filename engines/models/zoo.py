"""Known PyTorch architectures, rebuilt by name from a model file's metadata.

Only classes listed in :data:`ARCHITECTURES` are ever instantiated from the
``workbench_arch`` metadata of a file, so a model file cannot make the
workbench build arbitrary code. ResNet-18 is written here in plain torch
(torchvision is not installable here). Every builder is deterministic: the
same seed gives the same weights.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any

import torch
from torch import nn

from engines.errors import ModelLoadError
from engines.models.model_info import TensorSpec


class DigitsCNN(nn.Module):
    """A small CNN for scikit-learn's 8x8 digits: [N, 1, 8, 8] -> 10 logits."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(2 * width * 4 * 4, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class _ResNet(nn.Module, metaclass=ABCMeta):
    """The ImageNet ResNet frame (stem, four stages, pooled classifier); subclasses make the stages."""

    width = 512

    def __init__(self, num_classes: int = 1000, image_size: int = 224) -> None:
        super().__init__()
        self.image_size = image_size
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        for i, stage in enumerate(self.stages()):
            setattr(self, f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @abstractmethod
    def stages(self) -> list[nn.Sequential]:
        """The four stages (ResNet18: basic blocks, ResNet50: bottlenecks)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResNet18(_ResNet):
    """ResNet-18 (He et al. 2015), same layout as torchvision's resnet18."""

    def stages(self) -> list[nn.Sequential]:
        out, cin = [], 64
        for i, cout in enumerate((64, 128, 256, 512)):
            out.append(nn.Sequential(BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout)))
            cin = cout
        return out


class DigitsResNet(nn.Module):
    """A small ResNet for the digits upscaled to 32x32: a stem and three residual stages (w, 2w, 4w channels).

    The labs' default sample: big enough (about 110 M MACs at width 48) for INT8 and channel pruning to pay off
    on a CPU, small enough to train in about a minute.
    """

    def __init__(self, width: int = 48, num_classes: int = 10, image_size: int = 32) -> None:
        super().__init__()
        self.image_size = image_size
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.layer1 = BasicBlock(width, width)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.layer3 = BasicBlock(2 * width, 4 * width, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet50(_ResNet):
    """ResNet-50 (He et al. 2015), bottleneck blocks [3, 4, 6, 3], same layout as torchvision's resnet50."""

    width = 2048

    def stages(self) -> list[nn.Sequential]:
        out, cin = [], 64
        for i, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            layers = [Bottleneck(cin, width, 1 if i == 0 else 2)] + [Bottleneck(width * 4, width)
                                                                      for _ in range(blocks - 1)]
            out.append(nn.Sequential(*layers))
            cin = width * 4
        return out


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, ffn)
        self.ff2 = nn.Linear(ffn, hidden)
        self.ln2 = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        d = h // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, s, self.heads, d).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / (d ** 0.5), dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, s, h)
        x = self.ln1(x + self.o(ctx))
        return self.ln2(x + self.ff2(torch.nn.functional.gelu(self.ff1(x))))


class TinyBert(nn.Module):
    """A small BERT-like encoder: token ids [N, seq] -> class logits (Linear layers for MatMul quantization)."""

    def __init__(self, vocab: int = 8000, hidden: int = 256, layers: int = 4, heads: int = 4,
                 ffn: int = 1024, seq_len: int = 128, num_classes: int = 2) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(seq_len, hidden)
        self.ln = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.ln(self.tok(input_ids) + self.pos(pos))
        for layer in self.layers:
            x = layer(x)
        return self.classifier(torch.tanh(self.pooler(x[:, 0])))


ARCHITECTURES: dict[str, type[nn.Module]] = {"DigitsCNN": DigitsCNN, "DigitsResNet": DigitsResNet,
                                              "ResNet18": ResNet18, "ResNet50": ResNet50, "TinyBert": TinyBert}


# The namespace recorded in model files ("engines.zoo:DigitsCNN"): a stable name, not a module path,
# so files written before the engines were grouped by stage still rebuild.
ARCH_NAMESPACE = "engines.zoo"


def arch_ref(name: str) -> str:
    return f"{ARCH_NAMESPACE}:{name}"


def input_specs(name: str, config: dict[str, Any] | None = None) -> list[TensorSpec]:
    """The input signature of a zoo architecture (batch dim dynamic)."""
    config = config or {}
    if name == "DigitsCNN":
        return [TensorSpec("input", ("batch", 1, 8, 8), "float32")]
    if name == "DigitsResNet":
        size = int(config.get("image_size", 32))
        return [TensorSpec("input", ("batch", 1, size, size), "float32")]
    if name in ("ResNet18", "ResNet50"):
        size = int(config.get("image_size", 224))
        return [TensorSpec("input", ("batch", 3, size, size), "float32")]
    if name == "TinyBert":
        return [TensorSpec("input_ids", ("batch", int(config.get("seq_len", 128))), "int64")]
    raise ModelLoadError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")


def example_inputs(name: str, config: dict[str, Any] | None = None, batch: int = 1,
                   seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    tensors = []
    for spec in input_specs(name, config):
        shape = [batch] + [int(d) for d in spec.shape[1:]]
        if spec.dtype == "int64":
            tensors.append(torch.randint(0, int((config or {}).get("vocab", 8000)), shape, generator=g))
        else:
            tensors.append(torch.randn(shape, generator=g))
    return tuple(tensors)


def build(arch: str, config: dict[str, Any] | None = None, seed: int = 0) -> nn.Module:
    """Instantiate ``arch`` ("DigitsCNN" or "engines.zoo:DigitsCNN") with seeded weights, in eval mode."""
    name = arch.split(":", 1)[1] if ":" in arch else arch
    if ":" in arch and arch.split(":", 1)[0] != ARCH_NAMESPACE:
        raise ModelLoadError(f"architecture {arch!r} is not from the workbench zoo; only {', '.join(ARCHITECTURES)} "
                             "are rebuilt from model metadata")
    cls = ARCHITECTURES.get(name)
    if cls is None:
        raise ModelLoadError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = cls(**(config or {}))
        except TypeError as exc:
            raise ModelLoadError(f"bad configuration for {name}: {exc}") from exc
    return model.eval()
