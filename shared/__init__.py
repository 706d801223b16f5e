"""The domain package of the B2B partner onboarding function set (never imports azure.functions)."""
