"""The toolkit's networks: shapes, the t and label conventions, the null label."""
import pytest
import torch

from tempguide.models import (MLP, MLPConfig, MnistClassifier, MnistClassifierConfig, NoisyClassifier,
                              NoisyClassifierConfig, UNet, UNetConfig)


def _randomize_output(model):
    """The ε-networks start at ε̂ = 0 (zero-initialised last layer); give them a random one to test inputs."""
    torch.manual_seed(0)
    for p in model.out.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return model.eval()


@pytest.fixture
def unet_cond():
    torch.manual_seed(0)
    return _randomize_output(UNet(UNetConfig(num_classes=10)))


def test_unet_shapes_and_size():
    x = torch.randn(3, 1, 28, 28)
    for cfg in (UNetConfig(), UNetConfig(num_classes=10)):
        net = UNet(cfg)
        assert net(x, torch.rand(3)).shape == (3, 1, 28, 28)
        assert 0.3e6 <= sum(p.numel() for p in net.parameters()) <= 0.5e6
    with pytest.raises(ValueError, match="z_bar must have shape"):
        UNet()(torch.randn(3, 1, 32, 32), torch.rand(3))


def test_unet_starts_at_zero():
    assert UNet()(torch.randn(2, 1, 28, 28), 1.0).abs().max() == 0


def test_scalar_t_broadcasts(unet_cond):
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(unet_cond(x, torch.tensor(0.7)), unet_cond(x, torch.full((4,), 0.7)))
        torch.testing.assert_close(unet_cond(x, 0.7), unet_cond(x, torch.full((4,), 0.7)))
    with pytest.raises(ValueError, match="t must be"):
        unet_cond(x, torch.ones(3))


def test_unet_depends_on_t_and_label(unet_cond):
    x = torch.randn(4, 1, 28, 28)
    c = torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        base = unet_cond(x, 1.0, c)
        assert (base - unet_cond(x, 2.0, c)).abs().max() > 1e-4
        assert (base - unet_cond(x, 1.0, c + 1)).abs().max() > 1e-4
        # images are processed independently: example 0 does not depend on the others
        torch.testing.assert_close(unet_cond(x[:1], 1.0, c[:1]), base[:1], atol=1e-5, rtol=1e-4)


def test_null_label(unet_cond):
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(unet_cond(x, 0.5), unet_cond(x, 0.5, torch.full((4,), 10)))
    with pytest.raises(ValueError, match="labels must be in 0..10"):
        unet_cond(x, 0.5, torch.full((4,), 11))
    with pytest.raises(ValueError, match="unconditional"):
        UNet()(x, 0.5, torch.zeros(4, dtype=torch.long))


def test_mlp_conventions():
    torch.manual_seed(0)
    net = MLP(MLPConfig(dim=3, num_classes=2)).eval()
    x = torch.randn(5, 3)
    with torch.no_grad():
        assert net(x, 0.1).shape == (5, 3)
        torch.testing.assert_close(net(x, 0.1), net(x, 0.1, torch.full((5,), 2)))  # null label = num_classes
        assert (net(x, 0.1, torch.zeros(5, dtype=torch.long)) - net(x, 0.1)).abs().max() > 1e-4
    with pytest.raises(ValueError, match="z_bar must have shape"):
        net(torch.randn(5, 2), 0.1)
    with pytest.raises(ValueError, match="depth"):
        MLPConfig(depth=0)


def test_classifiers():
    x = torch.randn(6, 1, 28, 28)
    clf = MnistClassifier(MnistClassifierConfig()).eval()
    assert clf(x).shape == (6, 10)
    assert clf.features(x).shape == (6, MnistClassifierConfig().feature_dim)
    noisy = NoisyClassifier(NoisyClassifierConfig()).eval()
    assert noisy(x, torch.rand(6)).shape == (6, 10)
    assert noisy(x, 3.0).shape == (6, 10)
    with torch.no_grad():  # logits of the evaluation classifier are a linear map of its features
        torch.testing.assert_close(clf(x), clf.head(clf.features(x)))


def test_config_validation_and_json_roundtrip():
    with pytest.raises(ValueError, match="channels"):
        UNetConfig(channels=(30, 64, 64))
    import dataclasses
    import json
    cfg = UNetConfig(num_classes=10)
    assert UNetConfig(**json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
