"""Real-broker tests: mosquitto, tools/simulator.py and HA's real MQTT client."""
