"""E5-V on transformers, with the tiny random LLaVA-NeXT: the real loading and inference code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.backend_settings import E5VEmbedConfig
from rag.embed.base import Embedder, build_embedder
from rag.embed.e5v import E5VEmbedder, fit_image, image_prompt, plan_batches, space_id, text_prompt
from rag.errors import MissingPartError
from rag.testing.embedder import EmbedderContract
from tests.rag.embed.samples import LLAMA3_TEMPLATE, TEXTS, cfg_for, sample_images

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

@pytest.fixture(scope="module")
def e5v(tiny_llava_dir: Path) -> Iterator[E5VEmbedder]:
    embedder = E5VEmbedder.from_config(cfg_for(tiny_llava_dir))
    yield embedder
    del embedder


def test_prompts_are_e5v_reference_prompts() -> None:
    assert text_prompt("A dog.") == LLAMA3_TEMPLATE.format("A dog.\nSummary above sentence in one word: ")
    assert image_prompt() == LLAMA3_TEMPLATE.format("<image>\nSummary above image in one word: ")


def test_text_cannot_smuggle_an_image_placeholder() -> None:
    assert "<image>" not in text_prompt("see <image> here")


def test_registry_builds_it_and_it_is_an_embedder(tiny_llava_dir: Path) -> None:
    embedder = build_embedder(cfg_for(tiny_llava_dir))
    assert isinstance(embedder, E5VEmbedder)
    assert isinstance(embedder, Embedder)
    assert embedder.id == space_id(str(tiny_llava_dir)) == f"e5v:{tiny_llava_dir}"
    assert embedder.embeds_images


def test_vectors_have_model_dim_and_unit_norm(e5v: E5VEmbedder) -> None:
    assert e5v.dim == 128  # the tiny Llama's hidden size
    texts = e5v.embed_texts(TEXTS)
    images = e5v.embed_images(sample_images())
    queries = e5v.embed_queries(TEXTS[:2])
    for vecs, n in ((texts, len(TEXTS)), (images, 5), (queries, 2)):
        assert vecs.shape == (n, e5v.dim)
        assert vecs.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_text_and_image_vectors_share_one_space(e5v: E5VEmbedder) -> None:
    text = e5v.embed_texts(["A red square."])
    image = e5v.embed_images([Image.new("RGB", (64, 64), (255, 0, 0))])
    assert text.shape[1] == image.shape[1] == e5v.dim
    assert np.isfinite(text @ image.T).all()


def test_queries_use_the_text_prompt(e5v: E5VEmbedder) -> None:
    np.testing.assert_allclose(e5v.embed_queries(TEXTS[:2]), e5v.embed_texts(TEXTS[:2]), atol=1e-6)


def test_batched_texts_equal_single_texts(e5v: E5VEmbedder) -> None:
    batched = e5v.embed_texts(TEXTS)
    single = np.concatenate([e5v.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_batched_images_equal_single_images(e5v: E5VEmbedder) -> None:
    images = sample_images()
    batched = e5v.embed_images(images)
    single = np.concatenate([e5v.embed_images([im]) for im in images])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_results_come_back_in_input_order(e5v: E5VEmbedder) -> None:
    forward = e5v.embed_texts(TEXTS)
    backward = e5v.embed_texts(TEXTS[::-1])
    np.testing.assert_allclose(backward, forward[::-1], atol=1e-5)


def test_empty_input_gives_empty_matrix(e5v: E5VEmbedder) -> None:
    assert e5v.embed_texts([]).shape == (0, e5v.dim)
    assert e5v.embed_images([]).shape == (0, e5v.dim)


def test_matches_the_e5v_reference_recipe(e5v: E5VEmbedder) -> None:
    """E5-V's README: processor(prompts, images, padding=True) -> hidden_states[-1][:, -1, :] -> normalise."""
    processor, model = e5v._processor, e5v._model
    images = [fit_image(im, e5v.image_side) for im in sample_images()]
    with torch.no_grad():
        text_in = processor(text=[text_prompt(t) for t in TEXTS], return_tensors="pt", padding=True)
        ref_text = model(**text_in, output_hidden_states=True, return_dict=True).hidden_states[-1][:, -1, :]
        img_in = processor(text=[image_prompt()] * len(images), images=images, return_tensors="pt",
                           padding=True)
        ref_img = model(**img_in, output_hidden_states=True, return_dict=True).hidden_states[-1][:, -1, :]
    ref_text = torch.nn.functional.normalize(ref_text, dim=-1).numpy()  # (n, dim)
    ref_img = torch.nn.functional.normalize(ref_img, dim=-1).numpy()  # (n, dim)
    np.testing.assert_allclose(e5v.embed_texts(TEXTS), ref_text, atol=1e-5)
    np.testing.assert_allclose(e5v.embed_images(images), ref_img, atol=1e-5)


def test_image_costs_match_the_processor(e5v: E5VEmbedder) -> None:
    images = [fit_image(im, e5v.image_side) for im in sample_images()]
    costs = e5v._image_costs(image_prompt(), images)
    actual = [len(e5v._processor(text=[image_prompt()], images=[im])["input_ids"][0]) for im in images]
    assert costs == actual


def test_plan_batches_respects_budget_and_covers_every_item() -> None:
    costs = [5, 50, 7, 300, 12, 12, 40, 1, 90]
    batches = plan_batches(costs, budget=100, max_batch=3)
    assert sorted(i for b in batches for i in b) == list(range(len(costs)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(costs[i] for i in batch) <= 100
    assert [3] in batches  # over budget alone: a batch of one
    with pytest.raises(ValueError, match="budget"):
        plan_batches(costs, budget=0, max_batch=1)


def test_fit_image_caps_the_longest_side() -> None:
    fitted = fit_image(Image.new("RGBA", (1000, 500)), 224)
    assert fitted.size == (224, 112)
    assert fitted.mode == "RGB"
    small = Image.new("RGB", (40, 30))
    assert fit_image(small, 224).size == (40, 30)


@pytest.mark.parametrize("model", ["royokong/e5-v", "/nonexistent/e5-v"])
def test_missing_weights_is_one_clear_sentence(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingPartError) as info:
        E5VEmbedder.from_config(E5VEmbedConfig(model=model, device="cpu"))
    message = str(info.value)
    assert model in message
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith(".") and ". " not in message.rstrip(".")  # one sentence
    assert info.value.__cause__ is None and info.value.__suppress_context__


class TestE5VContract(EmbedderContract):
    """E5-V on transformers (a tiny random LLaVA-NeXT) passes the Embedder contract."""

    @pytest.fixture
    def embedder(self, e5v: E5VEmbedder) -> Embedder:
        return e5v
