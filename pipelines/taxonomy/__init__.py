"""Taxonomy loading, quota planning and deterministic attribute sampling."""

from pipelines.taxonomy.loader import load_taxonomy
from pipelines.taxonomy.model import Attribute, Case, Taxonomy
from pipelines.taxonomy.quota import QuotaCell, QuotaPlan, plan_quotas
from pipelines.taxonomy.sampler import AttributeSampler

__all__ = [
    "Attribute",
    "AttributeSampler",
    "Case",
    "QuotaCell",
    "QuotaPlan",
    "Taxonomy",
    "load_taxonomy",
    "plan_quotas",
]
