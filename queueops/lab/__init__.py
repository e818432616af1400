"""The local lab fleet: namespaced hosts with real sshd, supervisord, redis and the demo app."""
