//! What DynamoDB bills a write, estimated from the request as gatebot
//! builds it: one write unit per KB of each item written (rounded up, at
//! least one), twice in a transaction. Counted by the SDK interceptor as
//! `gatebot_dynamodb_write_units_total{op}`; the cost table in
//! BENCHMARKS.md is computed from it.
//!
//! An update or a delete is counted as one unit: DynamoDB bills the larger
//! of the item before and after, which the request does not show (gatebot's
//! updates and deletes touch small items: dispatch links, released keys).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::interceptors::context::Input;

type Item = HashMap<String, AttributeValue>;

/// An item's size as DynamoDB counts it: each attribute's name and value.
pub(crate) fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn number_size(n: &str) -> usize {
    // About one byte per two significant digits, plus one.
    n.trim_start_matches('-').len().div_ceil(2) + 1
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, x)| 1 + k.len() + value_size(x))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Write units of writing one item of `size` bytes.
pub(crate) fn units(size: usize) -> u64 {
    size.div_ceil(1024).max(1) as u64
}

fn put_units(item: Option<&Item>) -> u64 {
    item.map_or(1, |i| units(item_size(i)))
}

/// The operation and the write units of a request's input, if it writes.
pub(crate) fn of_request(input: &Input) -> Option<(&'static str, u64)> {
    if let Some(p) = input.downcast_ref::<PutItemInput>() {
        return Some(("PutItem", put_units(p.item())));
    }
    if let Some(b) = input.downcast_ref::<BatchWriteItemInput>() {
        let units = b
            .request_items()
            .into_iter()
            .flat_map(|m| m.values().flatten())
            .map(|w| put_units(w.put_request().map(|p| p.item())))
            .sum();
        return Some(("BatchWriteItem", units));
    }
    if let Some(t) = input.downcast_ref::<TransactWriteItemsInput>() {
        let once: u64 = t
            .transact_items()
            .iter()
            .map(|t| put_units(t.put().map(|p| p.item())))
            .sum();
        return Some(("TransactWriteItems", 2 * once));
    }
    if input.downcast_ref::<UpdateItemInput>().is_some() {
        return Some(("UpdateItem", 1));
    }
    if input.downcast_ref::<DeleteItemInput>().is_some() {
        return Some(("DeleteItem", 1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_string())
    }

    #[test]
    fn an_item_counts_its_names_and_values() {
        let item = Item::from([("pk".into(), s("GATE#a/b#1")), ("sk".into(), s("GATE"))]);
        assert_eq!(item_size(&item), 2 + 10 + 2 + 4);
        let with_number = Item::from([("version".into(), AttributeValue::N("12345".into()))]);
        assert_eq!(item_size(&with_number), 7 + 4);
    }

    #[test]
    fn a_unit_per_started_kilobyte_and_at_least_one() {
        assert_eq!(units(0), 1);
        assert_eq!(units(1024), 1);
        assert_eq!(units(1025), 2);
        assert_eq!(units(3000), 3);
    }

    #[test]
    fn a_transaction_bills_each_item_twice() {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let big = "x".repeat(1500);
        let put = |data: &str| {
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("t")
                        .item("pk", s("p"))
                        .item("data", s(data))
                        .build()
                        .expect("a put"),
                )
                .build()
        };
        let input = TransactWriteItemsInput::builder()
            .transact_items(put("small"))
            .transact_items(put(&big))
            .build()
            .expect("an input");
        let erased = Input::erase(input);
        assert_eq!(
            of_request(&erased),
            Some(("TransactWriteItems", 2 * (1 + 2)))
        );
        let get = aws_sdk_dynamodb::operation::get_item::GetItemInput::builder()
            .table_name("t")
            .build()
            .expect("an input");
        assert_eq!(of_request(&Input::erase(get)), None, "a read is no write");
    }
}
