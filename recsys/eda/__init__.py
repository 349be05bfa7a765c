"""Exploratory data analysis of a processed data set: DuckDB aggregates (`queries`), figures (`figures`), `EDA.md` (`report`)."""
