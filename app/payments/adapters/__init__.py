"""The built-in payment-channel adapters, declared in pyproject.toml like any third party's."""
