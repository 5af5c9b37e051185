"""Learn from outcomes: backtests, point suggestions and funnel reports."""
