"""Device-side MQTT simulator for the MQTT Fleet integration's device families.

It plays AutoCore ESP32 boards (``autocore``), Janus WebRTC gateways (``janus``),
SpotFi OpenWrt routers (``spotfi`` on ``openwrt``) and a container manager's log stream
(``container_logs``) against a real broker; ``core`` and ``payloads`` hold what they share.
Run it with ``python -m tools.simulator --help`` from the repository root, or as
``python tools/simulator --help``; ``__main__`` documents the command line.
"""
