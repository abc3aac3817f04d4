PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test test-postgres lint db demo-data clean serve bench bench-scale mutation mutation-quick

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## the production install: the package alone (`pip install .`, no dev extra: no devtools/, no aiosmtpd)
PROD_STAMP := $(VENV)/.production-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
$(PROD_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@rm -f $(VENV)/.production-*
	@touch $(PROD_STAMP)

## make run: install, upgrade the SQLite database, load demo data when empty, serve on 127.0.0.1:5000
run: $(STAMP)
	APP_ENV=development $(FLASK) db upgrade
	APP_ENV=development $(FLASK) demo-data --if-empty
	APP_ENV=development SOA_INCLUSION_COST=$${SOA_INCLUSION_COST:-3.50} $(FLASK) dev-server

## make test: install with dev extras (and Debian's chromium for the browser tests, via apt-get, when missing)
## and run the whole test suite
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "Instalando o Chromium do Debian para os testes no navegador (apt-get)..."
	SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get update && $$SUDO apt-get install -y -o Dpkg::Use-Pty=0 chromium fonts-liberation

## The job-queue tests run on both backends: the embedded SQLite queue and Redis (a private redis-server on a
## loopback port, started by the tests; Debian's redis-server is installed via apt-get when missing)
REDIS_SERVER := /usr/bin/redis-server
$(REDIS_SERVER):
	@echo "Instalando o redis-server do Debian para os testes da fila de tarefas (apt-get)..."
	SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get update && $$SUDO apt-get install -y -o Dpkg::Use-Pty=0 redis-server

test: $(STAMP) $(CHROMIUM) $(REDIS_SERVER)
	APP_ENV=development $(PY) -m pytest

## make test-postgres: the same suite (browser tests aside: they are database-agnostic) against PostgreSQL;
## TEST_DATABASE_URL must point at an empty database the suite may drop and recreate tables in (see .ci/run)
test-postgres: $(STAMP) $(REDIS_SERVER)
	@test -n "$$TEST_DATABASE_URL" || (echo "TEST_DATABASE_URL não definido (ex.: postgresql+psycopg://painel:painel@127.0.0.1:5432/painel_test)"; exit 2)
	APP_ENV=development $(PY) -m pytest --ignore=tests/e2e

## make serve: production server: gunicorn with several workers (WEB_CONCURRENCY, default 4) on BIND
## (default 127.0.0.1:8000); the app reads APP_ENV (production unless set), SECRET_KEY, CREDENTIALS_KEY,
## DATABASE_URL, MAIL_* ... from the environment and refuses to start without its own SECRET_KEY and
## CREDENTIALS_KEY. Run `flask --app app db upgrade` first. The timeout covers slow SOA and SMTP calls.
serve: $(PROD_STAMP)
	APP_ENV=$${APP_ENV:-production} $(VENV)/bin/gunicorn --workers $${WEB_CONCURRENCY:-4} --bind $${BIND:-127.0.0.1:8000} --timeout 120 \
		--access-logfile - --error-logfile - "app:create_app()"

## make bench: install the bench extras, generate 100k+ rows (BENCH_SCALE=0.1 for a quick run) and measure the
## lists, the clock, bulk negativation, bulk e-mail and a gunicorn load run; writes bench/RESULTS.md (~15 min)
BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	APP_ENV=development $(PY) -m bench.run

## make bench-scale: every list operation and the streamed export at 1× and 10× (BENCH_SCALES), SQLite and, with
## BENCH_PG_URL, PostgreSQL; writes its section of bench/RESULTS.md (~30-60 min on 2 cores)
bench-scale: $(BENCH_STAMP)
	APP_ENV=development $(PY) -m bench.scale

## make mutation: install the mutation extras (mutmut) and mutate the rule modules (legal and meeting rules,
## agency time, recipient parser, eligibility and exclusion workflow), each against the quick tests that call it;
## prints the score per module and every survivor; fails under 90 % (~15 min on 2 cores; run before each release).
## make mutation-quick: the same for the modules whose tests are pure units (a few minutes)
MUTATION_STAMP := $(VENV)/.mutation-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
$(MUTATION_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,mutation]'
	@touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	$(PY) -m tools.mutation

mutation-quick: $(MUTATION_STAMP)
	$(PY) -m tools.mutation --quick

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) instance/*.db mutants mutants-run.log
