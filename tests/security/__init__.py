"""Attacker and careless-operator moves against glassbox, each with the refusal or detection expected."""
