# The two commands: `make demo` (the main job) and `make test` (the suite).
# Each creates and fills .venv when missing; nothing is installed by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The services the demo and the tests run for real, from PyPI.
SERVICES := nova==34.* keystone==30.* neutron==29.* gunicorn

.PHONY: demo test bench policies venv clean

demo: $(VENV)/.installed
	$(PY) -m tools.demo

test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed
	$(PY) -m tools.bench_middleware
	$(PY) -m tools.bench_policy
	$(PY) -m tools.bench_startup

# The translation: 100k ports translated in memory, 10k applied to a real
# Neutron on PostgreSQL (Debian's postgresql package). About an hour on 2
# cores.
.PHONY: bench-translate
bench-translate: $(VENV)/.installed
	$(PY) -m tools.bench_translate --translate-ports 100000 --apply-ports 10000

# translate restore: 100k ports restored into Neutron's PostgreSQL
# database, against apply through the API on a 200-port slice. About 15
# minutes on 2 cores.
.PHONY: bench-restore
bench-restore: $(VENV)/.installed
	$(PY) -m tools.bench_restore --ports 100000 --apply-ports 200

# Regenerate policies/ against the installed nova's stock policy (a
# nova.conf that points at no policy file, whatever /etc/nova holds).
policies: $(VENV)/.installed
	conf=$$(mktemp -d) && \
	printf '[oslo_policy]\npolicy_file = %s/none.yaml\npolicy_dirs = %s/none.d\n' $$conf $$conf > $$conf/nova.conf && \
	for mode in full writes network; do \
	  $(VENV)/bin/freeze-ctl --config-file $$conf/nova.conf policy generate --mode $$mode -o policies/freeze-$$mode.yaml || exit 1; \
	done; rm -rf $$conf

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench,mysql]' $(SERVICES)
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
