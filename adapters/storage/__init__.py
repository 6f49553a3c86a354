"""What the three storage adapters (blob, queue, table) share: how users connect to them."""

from __future__ import annotations

from controlplane.adapter import Adapter


class StorageAdapter(Adapter):
    """A storage service addressed as ``<account>.<name>.core.windows.net`` or path-style."""

    endpoint_key: str
    """Its key in a connection string, e.g. ``BlobEndpoint``."""

    @property
    def hostname_suffixes(self) -> tuple[str, ...]:  # type: ignore[override]
        return (f".{self.name}.core.windows.net", f".{self.name}.localhost")

    def connection_string(self, account: str, key: str, endpoint: str) -> str | None:
        endpoint = endpoint.rstrip("/")
        if not endpoint.endswith(f"/{account}") and f"{account}.{self.name}." not in endpoint:
            endpoint = f"{endpoint}/{account}"
        return f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};{self.endpoint_key}={endpoint};"
