"""A Microsoft Graph v1.0 endpoint for tests (mail, delta, sendMail, $batch, subscriptions)."""
