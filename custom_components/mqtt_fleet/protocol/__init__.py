"""The wire protocols MQTT Fleet speaks: pure Python, no Home Assistant imports.

Given (topic, payload) a family module returns a typed message or raises InvalidMessage;
given an intent it returns an OutgoingMessage.
"""
