//// Invoice lines: what closing a billing period produces. The rules (exact
//// quantities, amounts rounded once, half up, in minor units) are in README,
//// "Plans file and billing rules".

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
