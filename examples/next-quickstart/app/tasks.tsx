"use client";
import { useTask, useTasks } from "herald/react";
import { startReport } from "./actions";

export function Tasks() {
  const { tasks, start, refusal } = useTasks();
  return (
    <section>
      <h2>Tasks</h2>
      <button onClick={() => start(startReport)}>Start a report</button>
      {refusal && (
        <p role="alert" className="refusal">
          {refusal.message}
        </p>
      )}
      {tasks.map((task) => (
        <TaskCard key={task.id} id={task.id} />
      ))}
    </section>
  );
}

function TaskCard({ id }: { id: string }) {
  const task = useTask<{ pages: number }>(id);
  return (
    <article className="task" data-status={task.status}>
      <h3>
        {task.title} <small>{task.status}</small>
      </h3>
      <progress max={100} value={task.progress} />
      <span className="percent">{Math.round(task.progress)}%</span>
      <ul>
        {task.steps.map((step) => (
          <li key={step.name} data-status={step.status}>
            {step.name}: {step.status}
          </li>
        ))}
      </ul>
      <p className="text">{task.text}</p>
      {task.result && <p className="result">Done: {task.result.pages} pages</p>}
      {task.status === "running" && <button onClick={() => task.cancel()}>Cancel</button>}
    </article>
  );
}
