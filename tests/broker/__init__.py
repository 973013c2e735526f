"""Real-broker tests: mosquitto, tools/simulator and HA's real MQTT client."""
