"""A KafkaCluster's listeners as Kafka configuration, advertised addresses, Services and certificate names.

Each ``spec.listeners`` entry becomes a Kafka listener named after it in upper case, its security protocol from
``tls`` and ``authentication`` (``ListenerSpec.security_protocol``). A *secured* cluster also gets the
operator-owned ``REPLICATION`` listener on port 9091: mutual TLS with certificates from the cluster CA, used for
replication (``inter.broker.listener.name``) and by the operator's admin client, whose principals are super users.
A plain cluster replicates over its first listener.

Advertised addresses, per broker and listener:

- ``internal`` and ``REPLICATION``: the pod's stable DNS name under the headless Service.
- ``nodeport``: the per-broker Service's nodePort on the address of the node the pod runs on. That address is only
  known once the pod is scheduled, so the operator writes the placeholder ``@HOST_IP@`` and the pod's start
  command substitutes the downward API's ``status.hostIP``: a rescheduled broker re-advertises by itself.
- ``loadbalancer``: the per-broker Service's load balancer ingress (IP or host name) and the listener's port;
  until the load balancer has one, the Service's cluster DNS name (and the status says the listener waits).
- A per-broker ``advertisedHost``/``advertisedPort`` override wins over all of these.

A broker's certificate names every address it may be reached by (``broker_sans``): its advertised hosts, the
bootstrap Services' DNS names (a client verifies the host it dialled), and for NodePort listeners every node's
addresses, since the pod may be rescheduled to any of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import names
from .spec import AUTHENTICATION_TYPES, LISTENER_TYPES, ClusterSpec, ListenerSpec

HOST_IP_PLACEHOLDER = "@HOST_IP@"
"""Replaced by the pod's node address (downward API ``status.hostIP``) when the broker starts."""

NODE_PORT_RANGE = range(30000, 32768)
"""Kubernetes' default Service node port range."""

_NAME = re.compile(r"^[a-z][a-z0-9]{0,10}$")
RESERVED_NAMES = frozenset({names.REPLICATION_LISTENER.lower(), "http"})
"""Listener names the pods' own ports use."""
RESERVED_PORTS = frozenset({names.REPLICATION_PORT, names.HTTP_PORT})

CA_FILE = f"{names.CERTS_DIR}/ca.crt"
CLIENTS_CA_FILE = f"{names.CERTS_DIR}/clients-ca.crt"
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_SERVER_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"

NodePorts = Mapping[tuple[str, int], int]
"""(listener name, broker id) → the allocated nodePort of that broker's Service."""
Ingresses = Mapping[tuple[str, int], str]
"""(listener name, broker id) → the load balancer's address for that broker's Service."""


def validate(spec: ClusterSpec) -> tuple[str, str] | None:
    """``(reason, message)`` when the listeners cannot be applied, else None. Shared by the reconcile (status)
    and the admission webhook."""
    seen_names: set[str] = set()
    seen_ports: set[int] = set()
    for lst in spec.listeners:
        where = f"listener {lst.name!r}"
        if not _NAME.match(lst.name):
            return "InvalidListener", f"{where}: a name is 1-11 lower-case letters and digits, starting with a letter"
        if lst.name in RESERVED_NAMES:
            return "InvalidListener", f"{where}: the name is reserved for the brokers' own listener"
        if lst.name in seen_names:
            return "InvalidListener", f"{where}: two listeners have this name"
        if not 1 <= lst.port <= 65535:
            return "InvalidListener", f"{where}: port {lst.port} is not a TCP port"
        if lst.port in RESERVED_PORTS:
            return "InvalidListener", f"{where}: port {lst.port} is reserved (replication {names.REPLICATION_PORT}, " \
                f"health and metrics {names.HTTP_PORT})"
        if lst.port in seen_ports:
            return "InvalidListener", f"{where}: two listeners use port {lst.port}"
        if lst.type not in LISTENER_TYPES:
            return "InvalidListener", f"{where}: type {lst.type!r} is not one of {', '.join(LISTENER_TYPES)}"
        if lst.authentication is not None and lst.authentication not in AUTHENTICATION_TYPES:
            return "InvalidListener", \
                f"{where}: authentication {lst.authentication!r} is not one of {', '.join(AUTHENTICATION_TYPES)}"
        if lst.authentication == "tls" and not lst.tls:
            return "InvalidListener", f"{where}: authentication tls (client certificates) needs tls: true"
        node_ports = [o.node_port for o in lst.brokers if o.node_port] + [lst.bootstrap_node_port or 0]
        if lst.type != "nodeport" and any(node_ports):
            return "InvalidListener", f"{where}: nodePort is only for listeners of type nodeport"
        if any(p and p not in NODE_PORT_RANGE for p in node_ports):
            return "InvalidListener", f"{where}: a nodePort must be within {NODE_PORT_RANGE.start}-" \
                f"{NODE_PORT_RANGE.stop - 1}"
        if len({o.broker for o in lst.brokers}) != len(lst.brokers):
            return "InvalidListener", f"{where}: two overrides for the same broker"
        seen_names.add(lst.name)
        seen_ports.add(lst.port)
    if not spec.listeners:
        return "InvalidListener", "spec.listeners is empty: a cluster needs at least one listener"
    if spec.authorization is not None and spec.authorization.type != "simple":
        return "InvalidAuthorization", f"authorization type {spec.authorization.type!r}: only simple is supported"
    return None


def _lower(lst: ListenerSpec) -> str:
    return f"listener.name.{lst.kafka_name.lower()}"


def super_users(spec: ClusterSpec) -> list[str]:
    """The brokers' and the operator's certificate principals, then ``spec.authorization.superUsers``."""
    users = [f"User:{names.broker_principal(spec)}", f"User:{names.operator_principal(spec)}"]
    for user in spec.authorization.super_users if spec.authorization else ():
        users.append(user if ":" in user.split("=", 1)[0] else f"User:{user}")
    return users


def listener_properties(spec: ClusterSpec) -> dict[str, str]:
    """The listener, TLS, SASL and authorizer keys of ``server.properties`` (shared by every broker)."""
    bound = [f"{lst.kafka_name}://0.0.0.0:{lst.port}" for lst in spec.listeners]
    protocols = [f"{lst.kafka_name}:{lst.security_protocol}" for lst in spec.listeners]
    props: dict[str, str] = {}
    if spec.secured:
        replication = names.REPLICATION_LISTENER
        bound.insert(0, f"{replication}://0.0.0.0:{names.REPLICATION_PORT}")
        protocols.insert(0, f"{replication}:SSL")
        prefix = f"listener.name.{replication.lower()}"
        props.update(
            {
                "inter.broker.listener.name": replication,
                "ssl.keystore.type": "PEM",
                f"{prefix}.ssl.client.auth": "required",
                f"{prefix}.ssl.truststore.type": "PEM",
                f"{prefix}.ssl.truststore.location": CA_FILE,
            }
        )
    else:
        props["inter.broker.listener.name"] = spec.listeners[0].kafka_name
    for lst in spec.listeners:
        if lst.authentication == "tls":
            props.update(
                {
                    f"{_lower(lst)}.ssl.client.auth": "required",
                    f"{_lower(lst)}.ssl.truststore.type": "PEM",
                    f"{_lower(lst)}.ssl.truststore.location": CLIENTS_CA_FILE,
                }
            )
        elif lst.authentication == "scram-sha-512":
            props[f"{_lower(lst)}.sasl.enabled.mechanisms"] = SCRAM_MECHANISM
            props[f"{_lower(lst)}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"] = SCRAM_SERVER_JAAS
    props["listeners"] = ",".join(bound)
    props["listener.security.protocol.map"] = ",".join(protocols)
    if spec.authorization is not None:
        props["authorizer.class.name"] = ACL_AUTHORIZER
        props["super.users"] = ";".join(super_users(spec))
    return props


def advertised_host(
    spec: ClusterSpec, lst: ListenerSpec, broker: int, *, cluster_domain: str, ingresses: Ingresses
) -> str:
    override = lst.override(broker)
    if override is not None and override.advertised_host:
        return override.advertised_host
    if lst.type == "nodeport":
        return HOST_IP_PLACEHOLDER
    if lst.type == "loadbalancer":
        ingress = ingresses.get((lst.name, broker))
        return ingress or service_host(spec, external_broker_service_name(spec, lst, broker), cluster_domain)
    return names.broker_host(spec, broker, cluster_domain=cluster_domain)


def advertised_port(lst: ListenerSpec, broker: int, *, node_ports: NodePorts) -> int:
    override = lst.override(broker)
    if override is not None and override.advertised_port:
        return override.advertised_port
    if lst.type == "nodeport":
        return node_ports.get((lst.name, broker)) or (override.node_port if override and override.node_port else 0)
    return lst.port


def advertised_listeners(
    spec: ClusterSpec, broker: int, *, cluster_domain: str, node_ports: NodePorts, ingresses: Ingresses
) -> str:
    """``advertised.listeners`` of one broker; NodePort hosts are ``@HOST_IP@`` until the pod starts."""
    entries = []
    if spec.secured:
        host = names.broker_host(spec, broker, cluster_domain=cluster_domain)
        entries.append(f"{names.REPLICATION_LISTENER}://{host}:{names.REPLICATION_PORT}")
    for lst in spec.listeners:
        host = advertised_host(spec, lst, broker, cluster_domain=cluster_domain, ingresses=ingresses)
        entries.append(f"{lst.kafka_name}://{host}:{advertised_port(lst, broker, node_ports=node_ports)}")
    return ",".join(entries)


def missing_addresses(spec: ClusterSpec, brokers: int, *, node_ports: NodePorts, ingresses: Ingresses) -> list[str]:
    """External listeners whose Services have not been given their port or address yet (status)."""
    missing = []
    for lst in spec.listeners:
        for broker in range(brokers):
            override = lst.override(broker)
            if lst.type == "nodeport" and not advertised_port(lst, broker, node_ports=node_ports):
                missing.append(f"{lst.name}/broker-{broker}: nodePort")
            if lst.type == "loadbalancer" and (lst.name, broker) not in ingresses and not (
                override and override.advertised_host
            ):
                missing.append(f"{lst.name}/broker-{broker}: load balancer address")
    return missing


def service_host(spec: ClusterSpec, service: str, cluster_domain: str) -> str:
    return f"{service}.{spec.namespace}.svc.{cluster_domain}"


def broker_sans(
    spec: ClusterSpec, broker: int, *, cluster_domain: str, node_addresses: Sequence[str], ingresses: Ingresses
) -> list[str]:
    """Every name and address a client may dial to reach this broker over TLS, sorted and unique."""
    sans = {
        names.broker_host(spec, broker, cluster_domain=cluster_domain),
        service_host(spec, names.bootstrap_service_name(spec), cluster_domain),
        names.bootstrap_service_name(spec),
        f"{names.bootstrap_service_name(spec)}.{spec.namespace}",
        f"{names.bootstrap_service_name(spec)}.{spec.namespace}.svc",
    }
    for lst in spec.listeners:
        if not lst.external:
            continue
        sans.add(service_host(spec, external_bootstrap_service_name(spec, lst), cluster_domain))
        sans.add(service_host(spec, external_broker_service_name(spec, lst, broker), cluster_domain))
        override = lst.override(broker)
        if override is not None and override.advertised_host:
            sans.add(override.advertised_host)
        if lst.type == "nodeport":
            sans.update(node_addresses)
        if lst.type == "loadbalancer":
            sans.update(a for (name, b), a in ingresses.items() if name == lst.name and b in (broker, -1))
    return sorted(sans)


# --- Services of external listeners ----------------------------------------------------------------------


def external_broker_service_name(spec: ClusterSpec, lst: ListenerSpec, broker: int) -> str:
    return f"{names.broker_pod_name(spec, broker)}-{lst.name}"


def external_bootstrap_service_name(spec: ClusterSpec, lst: ListenerSpec) -> str:
    return f"{spec.name}-{lst.name}-bootstrap"


_SERVICE_TYPES = {"nodeport": "NodePort", "loadbalancer": "LoadBalancer"}
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
"""Set by the StatefulSet controller on each pod: selects exactly one broker."""


def _service(
    spec: ClusterSpec,
    lst: ListenerSpec,
    *,
    name: str,
    selector: Mapping[str, str],
    node_port: int | None,
    annotations: Mapping[str, str],
) -> dict[str, Any]:
    port: dict[str, Any] = {"name": lst.name, "port": lst.port, "targetPort": lst.port, "protocol": "TCP"}
    if node_port:
        port["nodePort"] = node_port
    meta = names.metadata(spec, name, names.BROKER)
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"type": _SERVICE_TYPES[lst.type], "selector": dict(selector), "ports": [port]},
    }


def external_services(spec: ClusterSpec) -> list[dict[str, Any]]:
    """Per external listener: a bootstrap Service over every broker, and one Service per broker."""
    services = []
    for lst in spec.listeners:
        if not lst.external:
            continue
        services.append(
            _service(
                spec,
                lst,
                name=external_bootstrap_service_name(spec, lst),
                selector=names.selector_labels(spec, names.BROKER),
                node_port=lst.bootstrap_node_port,
                annotations=lst.bootstrap_annotations,
            )
        )
        for broker in range(spec.brokers):
            override = lst.override(broker)
            services.append(
                _service(
                    spec,
                    lst,
                    name=external_broker_service_name(spec, lst, broker),
                    selector={**names.selector_labels(spec, names.BROKER), POD_NAME_LABEL: names.broker_pod_name(
                        spec, broker)},
                    node_port=override.node_port if override else None,
                    annotations=override.annotations if override else {},
                )
            )
    return services


def service_node_port(service: Mapping[str, Any]) -> int | None:
    ports = (service.get("spec") or {}).get("ports") or []
    port = ports[0].get("nodePort") if ports else None
    return int(port) if port else None


def service_ingress(service: Mapping[str, Any]) -> str | None:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not ingress:
        return None
    first = ingress[0]
    address = first.get("ip") or first.get("hostname")
    return str(address) if address else None


# --- status ------------------------------------------------------------------------------------------------


def listener_status(
    spec: ClusterSpec,
    *,
    cluster_domain: str,
    node_ports: NodePorts,
    ingresses: Ingresses,
    bootstrap_node_ports: Mapping[str, int],
    bootstrap_ingresses: Mapping[str, str],
    broker_node_addresses: Sequence[str],
    ca_certificate: str | None,
) -> list[dict[str, Any]]:
    """``status.listeners``: per listener its type, the bootstrap address a client uses, and (TLS) the CA."""
    result = []
    for lst in spec.listeners:
        if lst.type == "nodeport":
            port = bootstrap_node_ports.get(lst.name)
            hosts = sorted(set(broker_node_addresses))
            bootstrap = ",".join(f"{h}:{port}" for h in hosts) if port else ""
        elif lst.type == "loadbalancer":
            ingress = bootstrap_ingresses.get(lst.name)
            bootstrap = f"{ingress}:{lst.port}" if ingress else ""
        else:
            bootstrap = f"{service_host(spec, names.bootstrap_service_name(spec), cluster_domain)}:{lst.port}"
        entry: dict[str, Any] = {
            "name": lst.name,
            "type": lst.type,
            "securityProtocol": lst.security_protocol,
            "bootstrapServers": bootstrap,
        }
        if lst.authentication:
            entry["authentication"] = lst.authentication
        if lst.tls and ca_certificate:
            entry["certificates"] = [ca_certificate]
        result.append(entry)
    return result
