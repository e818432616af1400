"""Which files the wheel holds (the metadata is pyproject.toml's): the queueops package without
the lab (the repository's test fleet), and inside it, under queueops/_share/, templates/ and
the roles' defaults from the top of the repository, their one source."""

from setuptools import find_packages, setup

SHARED = {"queueops._share.templates": "templates", "queueops._share.roles": "roles"}

setup(
    packages=[
        *find_packages(include=["queueops", "queueops.*"], exclude=["queueops.lab*"]),
        *SHARED,
    ],
    package_dir=SHARED,
    # Only what is listed here: the lab's files would otherwise come along as data.
    include_package_data=False,
    package_data={
        # verify's checks: a folder pytest collects, not a package.
        "queueops.observe.verify": ["checks/*.py"],
        "queueops._share.templates": ["**/*.j2"],
        "queueops._share.roles": ["*/defaults/main.yml"],
    },
)
