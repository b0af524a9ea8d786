#!/usr/bin/env python3
"""Why the DynamoDB (moto) latency rows slow as moto's table grows.

    scripts/with-moto.sh .venv .venv/bin/python bench/moto_transactions.py

Against the moto server that scripts/with-moto.sh starts
(DYNAMODB_TEST_ENDPOINT), fills a table with 2,000-byte items and times,
beside 100, 600 and 1,500 of them, a `PutItem` and a three-item
`TransactWriteItems` (two condition checks and a put: the shape of the
dispatch's record, `Store::create_dispatch_if`). Prints the median of 20 of
each. moto copies its whole table for every item of a transaction, so the
transaction's time grows with the table while the put's does not; DynamoDB's
own do not depend on the table's size. Quoted in BENCHMARKS.md ("Round trips
a person waits for"); not part of `make bench`, which it only explains.
"""

import os
import statistics
import time

import boto3

TABLE = "moto-transactions"
SIZES = (100, 600, 1500)
RUNS = 20


def gate(i):
    return {"pk": {"S": f"P#{i}"}, "sk": {"S": "GATE"}, "version": {"N": "1"}, "data": {"S": "x" * 2000}}


def check(i):
    return {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"pk": {"S": f"P#{i}"}, "sk": {"S": "GATE"}},
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": {"N": "1"}},
        }
    }


def ms(samples):
    return f"{statistics.median(samples) * 1000:.1f} ms"


def main():
    client = boto3.client(
        "dynamodb",
        endpoint_url=os.environ["DYNAMODB_TEST_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id="moto",
        aws_secret_access_key="moto",
    )
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    filled = 0
    for size in SIZES:
        for i in range(filled, size):
            client.put_item(TableName=TABLE, Item=gate(i))
        filled = size
        put, transaction = [], []
        for k in range(RUNS):
            start = time.perf_counter()
            client.put_item(TableName=TABLE, Item={"pk": {"S": f"D#{size}#{k}"}, "sk": {"S": "D"}})
            put.append(time.perf_counter() - start)
            start = time.perf_counter()
            client.transact_write_items(
                TransactItems=[
                    check(1),
                    check(2),
                    {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"E#{size}#{k}"}, "sk": {"S": "D"}}}},
                ]
            )
            transaction.append(time.perf_counter() - start)
        print(f"beside {size} items: PutItem {ms(put)}; three-item TransactWriteItems {ms(transaction)}")


if __name__ == "__main__":
    main()
