"use client";
export { HeraldProvider } from "herald/react";
