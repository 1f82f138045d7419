import json

from kafka_broker import metadata as md


def test_broker_registration_is_kafkas_json():
    data = json.loads(md.BrokerRegistration(2, "h", 9092, rack="r1").encode())
    assert data["version"] == 5 and data["host"] == "h" and data["port"] == 9092
    assert data["endpoints"] == ["PLAINTEXT://h:9092"]
    assert data["listener_security_protocol_map"] == {"PLAINTEXT": "PLAINTEXT"}
    assert data["rack"] == "r1" and data["jmx_port"] == -1


def test_broker_registration_from_kafka_with_empty_host():
    raw = b'{"version":5,"host":null,"port":-1,"endpoints":["PLAINTEXT://b1:19092"],"extra":1}'
    reg = md.BrokerRegistration.decode(7, raw)
    assert (reg.broker_id, reg.address("PLAINTEXT"), reg.address("SSL")) == (7, ("b1", 19092), None)


def test_broker_registration_with_several_listeners_is_kafkas_json():
    reg = md.BrokerRegistration.for_listeners(3, [("INTERNAL", "SASL_SSL", "b3.internal", 9093),
                                                  ("EXTERNAL", "SSL", "2001:db8::3", 31093)])
    data = json.loads(reg.encode())
    assert (data["host"], data["port"]) == (None, -1)  # no PLAINTEXT listener, as Kafka writes it
    assert data["endpoints"] == ["INTERNAL://b3.internal:9093", "EXTERNAL://[2001:db8::3]:31093"]
    assert data["listener_security_protocol_map"] == {"INTERNAL": "SASL_SSL", "EXTERNAL": "SSL"}
    back = md.BrokerRegistration.decode(3, reg.encode())
    assert back.address("EXTERNAL") == ("2001:db8::3", 31093) and back.address("INTERNAL") == ("b3.internal", 9093)
    assert back.address("PLAINTEXT") is None


def test_topic_assignment_round_trip_tolerates_unknown_keys():
    raw = b'{"version":2,"partitions":{"1":[2,3],"0":[1,2]},"adding_replicas":{},"removing_replicas":{},"x":1}'
    topic = md.TopicAssignment.decode(raw)
    assert topic.partitions == {0: [1, 2], 1: [2, 3]}
    assert md.TopicAssignment.decode(topic.encode()) == topic
    assert json.loads(topic.encode())["partitions"] == {"0": [1, 2], "1": [2, 3]}


def test_partition_state_format():
    state = md.PartitionState(leader=1, leader_epoch=3, isr=(1, 2), controller_epoch=7)
    assert json.loads(state.encode()) == {
        "version": 1,
        "leader": 1,
        "leader_epoch": 3,
        "controller_epoch": 7,
        "isr": [1, 2],
    }
    assert md.PartitionState.decode(state.encode()) == state


def test_admin_and_config_formats():
    assert json.loads(md.encode_topic_config({"retention.ms": "1"})) == {"version": 1, "config": {"retention.ms": "1"}}
    plan = {("t", 0): [2, 3]}
    assert json.loads(md.encode_reassignment(plan)) == {
        "version": 1,
        "partitions": [{"topic": "t", "partition": 0, "replicas": [2, 3]}],
    }
    assert md.decode_reassignment(md.encode_reassignment(plan)) == plan
    assert md.decode_partition_list(md.encode_partition_list([("t", 1)])) == [("t", 1)]
    assert md.decode_controller(md.encode_controller(3)) == 3
    assert md.decode_controller_epoch(b"7") == 7


def test_cluster_and_topic_ids():
    cluster_id = md.new_cluster_id()
    assert len(cluster_id) == 22
    assert md.decode_cluster_id(md.encode_cluster_id(cluster_id)) == cluster_id
    assert md.topic_id_to_uuid(cluster_id).int != 0
    assert md.topic_id_to_uuid(None).int == 0
