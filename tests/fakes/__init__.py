"""Fakes that speak the real protocols over HTTP: a Slack Web API (`slack`) and a Kubernetes API
built on kmock (`kubernetes`). The sandbox (bot.sandbox) is the third: it ships with opsbot."""
