//// Invoice lines: what closing a billing period produces. The rules (exact
//// quantities, amounts rounded once, half up, in minor units) are in README,
//// "Plans file and billing rules".

import tally/option

/// What a plan line measures.
pub type Measure {
  Total
  P95Rate
  GbMonthAverage
  Peak
}

/// The unit a quantity is counted in.
pub type QuantityUnit {
  PlainUnit
  Gigabyte
  MegabitPerSecond
}

/// An exact non-negative quantity: `numerator / denominator`.
///
/// ```gleam
/// Fraction(numerator: 285, denominator: 4)
/// // 71.25
/// ```
pub type Fraction {
  Fraction(numerator: Int, denominator: Int)
}

/// One invoice line. `key` is `customer/resource/meter/measure/period/vN`
/// (resource `*` for a customer-wide line): stable, for upserts.
pub type InvoiceLine {
  InvoiceLine(
    key: String,
    customer: String,
    resource: String,
    meter: String,
    measure: Measure,
    period: String,
    version: Int,
    plan: String,
    currency: String,
    unit: QuantityUnit,
    used: Fraction,
    included: Fraction,
    overage: Fraction,
    unit_price: Fraction,
    amount_minor: Int,
  )
}

/// The lines of one period, and the customers with usage but no plan.
pub type Invoice {
  Invoice(lines: List(InvoiceLine), unbilled_customers: List(String))
}

/// A batch of invoice lines ready for the outbox, in the written form:
/// `ids` holds each line's message id (`KEY/vVERSION`) followed by a
/// newline, `lines` each line's JSON followed by a newline, in the same
/// order; `count` lines. The outbox stores it as it is and the publisher
/// sends it without taking it apart into terms.
pub type WrittenBatch {
  WrittenBatch(count: Int, ids: BitArray, lines: BitArray)
}

/// One customer's invoice lines: how many, and their amounts summed (in
/// the minor units of `currency`).
pub type CustomerTotal {
  CustomerTotal(
    customer: String,
    currency: String,
    amount_minor: Int,
    lines: Int,
  )
}

/// One round of a close in rounds (`aggregate.close_round`): its lines in
/// outbox batches, each customer's total, its customers with usage but no
/// plan, and the customer the next round starts from (`None`: the last
/// round).
pub type WrittenRound {
  WrittenRound(
    batches: List(WrittenBatch),
    totals: List(CustomerTotal),
    unbilled_customers: List(String),
    next: option.Option(String),
  )
}

/// An invoice in the written form: its lines in outbox batches, each
/// customer's total (in customer order), and the customers with usage but
/// no plan.
pub type WrittenInvoice {
  WrittenInvoice(
    batches: List(WrittenBatch),
    totals: List(CustomerTotal),
    unbilled_customers: List(String),
  )
}
