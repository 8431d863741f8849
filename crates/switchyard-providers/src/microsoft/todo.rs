//! A Graph To Do `todoTask` as a [`Todo`]: `title`, the body as the notes, the status
//! as iCalendar's (`notStarted`, `waitingOnOthers` and `deferred` are `needs-action`,
//! `inProgress` is `in-process`, `completed` stays), and `dueDateTime` in UTC.

use serde_json::Value;
use switchyard_contracts::Todo;

use super::change::{body_text, zoned_date};

/// The task `id` of a Graph `todoTask`.
pub(super) fn todo(id: String, item: &Value) -> Todo {
    let status = match item["status"].as_str() {
        Some("inProgress") => "in-process",
        Some("completed") => "completed",
        _ => "needs-action",
    };
    Todo {
        id,
        title: item["title"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string(),
        notes: item.get("body").map(body_text).unwrap_or_default(),
        status: status.to_string(),
        due: zoned_date(&item["dueDateTime"]),
        assignee: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::DataType;
    use crate::microsoft::change::tests::sample;
    use crate::microsoft::{Change, Item, change};

    fn check(item: Value, expected: Todo) {
        let Change::Upsert {
            item: Item::Todo(todo),
            ..
        } = change(DataType::Todos, &item).unwrap()
        else {
            panic!("expected a todo");
        };
        assert_eq!(todo, expected);
    }

    #[test]
    fn documented_tasks_become_todos() {
        let page = sample("todo-tasks-delta-deltaLink.json");
        let task = &page["value"][0];
        let Change::Upsert { last_modified, .. } = change(DataType::Todos, task).unwrap() else {
            panic!("expected an upsert");
        };
        assert_eq!(
            last_modified.map(|date| date.to_rfc3339()).as_deref(),
            Some("2020-08-12T04:54:29.490393900+00:00")
        );
        check(
            task.clone(),
            Todo {
                id: task["id"].as_str().unwrap().to_string(),
                title: "empty task3".into(),
                status: "needs-action".into(),
                ..Todo::default()
            },
        );
        let listed = &sample("todo-tasks-list.json")["value"][0];
        check(
            listed.clone(),
            Todo {
                id: "AQMkADAwATM0MDAAMS0yMDkyLWVjMzYtMDACLTAwCgBGAAAD".into(),
                title: "Linked entity new task 1".into(),
                status: "needs-action".into(),
                ..Todo::default()
            },
        );
    }

    #[test]
    fn statuses_notes_and_due_dates() {
        for (status, expected) in [
            ("notStarted", "needs-action"),
            ("inProgress", "in-process"),
            ("completed", "completed"),
            ("waitingOnOthers", "needs-action"),
            ("deferred", "needs-action"),
        ] {
            check(
                json!({
                    "id": "t1", "title": "File taxes", "status": status,
                    "body": {"contentType": "html", "content": "<p>Use the <b>new</b> form</p>"},
                    "dueDateTime": {"dateTime": "2024-04-15T00:00:00.0000000", "timeZone": "America/New_York"},
                }),
                Todo {
                    id: "t1".into(),
                    title: "File taxes".into(),
                    notes: "Use the new form".into(),
                    status: expected.into(),
                    due: Some("2024-04-15T04:00:00Z".parse().unwrap()),
                    assignee: None,
                },
            );
        }
    }
}
