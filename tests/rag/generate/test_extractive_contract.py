"""The extractive answerer passes the Generator contract (:mod:`rag.testing.generator`)."""

from __future__ import annotations

import pytest

from rag.backend_settings import ExtractiveGenerateConfig
from rag.generate.base import Generator, build_generator
from rag.testing.generator import GeneratorContract


class TestExtractiveContract(GeneratorContract):
    @pytest.fixture
    def generator(self) -> Generator:
        return build_generator(ExtractiveGenerateConfig())
