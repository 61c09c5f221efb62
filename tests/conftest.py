"""Shared test set-up: quiet TF, registries loaded, no network."""

import os
import socket
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # pylint: disable=g-import-not-at-top

import mixtures  # pylint: disable=g-import-not-at-top,unused-import


@pytest.fixture
def no_network(monkeypatch):
  """Fails any attempt to open a network connection."""
  def refuse(*args, **kwargs):
    raise AssertionError(f'network access attempted: {args}')
  monkeypatch.setattr(socket.socket, 'connect', refuse)
  monkeypatch.setattr(socket, 'create_connection', refuse)
