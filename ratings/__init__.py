"""Pure rating math (numpy, scipy, choix): arrays and plain dataclasses in and out; no Flask, no SQLAlchemy."""
