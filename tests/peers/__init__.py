"""Real external SIP peers (SIPp) driven from tests over loopback."""
