from etl3_assets_tests.support.webserver import webserver  # noqa: F401 - the fixture
