"""Payments that arrive on their own: mobile-money notifications from a payment channel (a
till, paybill or wallet), matched to a payer or held in suspense (docs/payments.md)."""
