"""The model catalog: which public model ids exist, where they are served and what they cost."""

from meshapi_gateway.catalog.catalog import Catalog, ModelEntry, Pricing, load_catalog

__all__ = ["Catalog", "ModelEntry", "Pricing", "load_catalog"]
