"""What the tests share: the oracle, the loopback servers, a deployment wired as
production wires it, the webserver. Test modules import from here, never from each other."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
