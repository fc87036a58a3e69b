"""The live page's parts that are not layout: ICE configuration and the per-stream session."""

from __future__ import annotations

import json

import pytest

from fer.app.live import ICE_ENV, rtc_configuration


def test_no_ice_servers_by_default(monkeypatch):
    monkeypatch.delenv(ICE_ENV, raising=False)
    assert rtc_configuration() == {"iceServers": []}  # an empty list, never {} (public STUN fallback)


def test_ice_servers_from_environment_then_secrets(monkeypatch):
    turn = [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]
    stun = [{"urls": "stun:stun.example.org:3478"}]
    monkeypatch.setenv(ICE_ENV, json.dumps(turn))
    assert rtc_configuration({"ice_servers": stun}) == {"iceServers": turn}
    monkeypatch.delenv(ICE_ENV)
    assert rtc_configuration({"ice_servers": stun}) == {"iceServers": stun}


@pytest.mark.parametrize("raw", ["not json", '{"urls": "stun:x"}', '[{"url": "stun:x"}]'])
def test_bad_ice_configuration_says_what_is_expected(monkeypatch, raw):
    monkeypatch.setenv(ICE_ENV, raw)
    with pytest.raises(ValueError, match="ICE|JSON"):
        rtc_configuration()
