"""scripts/bench: MQTT Fleet against HA's own MQTT entities and the floors of HA's entities.

Modules:
    workload   the fixed mixed workload (devices, payloads, expected values), shared by both
               sides so the HA side knows what every message should show
    publisher  the separate publisher process (paho, QoS 0): flat out, fixed rate, natural
    harness    a real HA in this process (pytest-homeassistant-custom-component's
               async_test_home_assistant) with HA's real MQTT client on a private mosquitto
    contenders (a) MQTT Fleet, (b) MQTT discovery + value_template, (c) no-op subscriber,
               (d) orjson + hass.states.async_set, (e) the same entities as plain HA
               entities
    run        the phases and measurements for one contender at one N
    protocol_bench  parse rate of protocol/ against bare orjson.loads
    report     BENCHMARKS.md and the plot from the results file
"""
