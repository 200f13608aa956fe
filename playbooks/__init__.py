"""The shipped playbooks, installed as `bot.shipped_playbooks` (see pyproject.toml).

This file only makes the folder a package so that `pip install .` carries the YAML files.
"""
