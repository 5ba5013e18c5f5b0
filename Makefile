# One task runner. The README's two commands are scripts (they must work before make does);
# these are shortcuts for people working on the code.
.PHONY: demo test ci lint format check slow clean-demo

demo:            ## the whole app on 127.0.0.1:8000 (web, worker, beat)
	./scripts/demo

test:            ## fast tests on SQLite (pass ARGS="-k name")
	./scripts/test $(ARGS)

slow:            ## the tests that start real processes (worker, beat, the demo supervisor)
	./scripts/test -m slow $(ARGS)

ci:              ## every CI tier; PostgreSQL and Redis tiers need the local servers
	./.ci/run

lint:
	uv run ruff check .
	uv run ruff format --check .
	uv run lint-imports

format:
	uv run ruff check --fix .
	uv run ruff format .

check:
	DEMO_MODE=true uv run python manage.py check
	DEMO_MODE=true uv run python manage.py makemigrations --check --dry-run

clean-demo:      ## forget the demo's data (database, broker folders, mail)
	rm -rf var/
