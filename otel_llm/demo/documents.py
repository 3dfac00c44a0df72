"""Generated invoices for the extraction task: text full of PII, reference fields, some of them null."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from faker import Faker

# Field name -> probability that the invoice does not state it (reference null).
FIELDS: dict[str, float] = {
    "vendor_name": 0.0,
    "vendor_tax_id": 0.3,
    "invoice_number": 0.0,
    "invoice_date": 0.0,
    "due_date": 0.25,
    "po_number": 0.5,
    "currency": 0.0,
    "subtotal": 0.0,
    "tax": 0.2,
    "total": 0.0,
    "customer_name": 0.0,
    "customer_email": 0.2,
    "customer_phone": 0.35,
    "billing_address": 0.1,
}
NULL_SHARE = sum(FIELDS.values()) / len(FIELDS)

JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {name: {"type": ["string", "number", "null"]} for name in FIELDS},
    "required": list(FIELDS),
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    text: str
    fields: dict[str, Any]


def generate(n: int, seed: int) -> list[Invoice]:
    fake = Faker(["en_US", "en_GB", "de_DE"])
    fake.seed_instance(seed)
    rng = random.Random(seed)
    invoices = []
    for i in range(n):
        subtotal = round(rng.uniform(50, 9000), 2)
        tax = round(subtotal * 0.2, 2)
        values: dict[str, Any] = {
            "vendor_name": fake.company(),
            "vendor_tax_id": f"{fake.country_code()}{rng.randrange(10**8, 10**9)}",
            "invoice_number": f"INV-{rng.randrange(10**5, 10**6)}",
            "invoice_date": fake.date_between(start_date="-2y").isoformat(),
            "due_date": fake.date_between(start_date="today", end_date="+60d").isoformat(),
            "po_number": f"PO-{rng.randrange(1000, 9999)}",
            "currency": rng.choice(["USD", "EUR", "GBP"]),
            "subtotal": subtotal,
            "tax": tax,
            "total": round(subtotal + tax, 2),
            "customer_name": fake.name(),
            "customer_email": fake.email(),
            "customer_phone": fake.phone_number(),
            "billing_address": fake.address().replace("\n", ", "),
        }
        fields = {
            k: (None if rng.random() < p_null else v)
            for k, (v, p_null) in ((k, (values[k], FIELDS[k])) for k in FIELDS)
        }
        if fields["tax"] is None:
            fields["total"] = fields["subtotal"]
        lines = [f"Document ID: inv-{i:05d}", "INVOICE"]
        labels = {
            "vendor_name": "From",
            "vendor_tax_id": "VAT/Tax ID",
            "invoice_number": "Invoice no.",
            "invoice_date": "Date",
            "due_date": "Due",
            "po_number": "PO",
            "currency": "Currency",
            "subtotal": "Subtotal",
            "tax": "Tax",
            "total": "Total",
            "customer_name": "Bill to",
            "customer_email": "Email",
            "customer_phone": "Phone",
            "billing_address": "Address",
        }
        for key, label in labels.items():
            if fields[key] is not None:
                lines.append(f"{label}: {fields[key]}")
        invoices.append(Invoice(id=f"inv-{i:05d}", text="\n".join(lines), fields=fields))
    return invoices
