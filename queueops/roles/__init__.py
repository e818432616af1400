"""The Ansible roles under roles/: their argument specs, derived from their defaults."""
