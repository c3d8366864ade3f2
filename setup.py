# For tools that still build with setup.py (scrapyd-deploy builds the egg scrapyd runs with
# `setup.py bdist_egg`); everything is configured in pyproject.toml.
from setuptools import setup

setup()
