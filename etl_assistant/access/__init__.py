"""Who may call the server and as which tenant: API keys, the request guard, rate limits, bind checks."""
