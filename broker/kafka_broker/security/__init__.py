"""Security on the broker's listeners, as Kafka configures it: TLS contexts from Kafka's ``ssl.*`` keys and
the client certificate's principal (:mod:`.tls`, :mod:`.ssl_principal`), the SASL mechanisms PLAIN and
SCRAM-SHA-256/512 (:mod:`.plain`, :mod:`.scram`, their credentials from ``sasl.jaas.config``: :mod:`.jaas`), and
Kafka's ACL model (:mod:`.acl`). Nothing here knows ZooKeeper or the connections; those use it."""
