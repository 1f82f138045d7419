"""How the operator's admin clients reach a cluster: the bootstrap address and, for a secured cluster, the
cluster CA to trust and the operator's own client certificate (mutual TLS on the ``REPLICATION`` listener).

One value, turned into each client library's settings here, so the topic and user reconciles connect alike.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdminConnection:
    bootstrap: str
    """``host:port,...`` of the listener the operator uses."""
    ca_pem: str | None = None
    """The cluster CA certificate (PEM); None means PLAINTEXT."""
    cert_pem: str | None = None
    """The operator's client certificate (PEM), signed by the cluster CA."""
    key_pem: str | None = None
    """Its private key (PEM, unencrypted)."""

    @property
    def tls(self) -> bool:
        return self.ca_pem is not None

    def confluent_config(self) -> dict[str, str]:
        """librdkafka settings (``bootstrap.servers``, ``security.protocol``, inline PEM ``ssl.*``)."""
        config = {"bootstrap.servers": self.bootstrap}
        if self.ca_pem is None:
            return config
        config.update({"security.protocol": "SSL", "ssl.ca.pem": self.ca_pem})
        if self.cert_pem and self.key_pem:
            config.update({"ssl.certificate.pem": self.cert_pem, "ssl.key.pem": self.key_pem})
        return config
