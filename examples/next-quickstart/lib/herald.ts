import { createHerald } from "herald";
import { currentUserId } from "./session";

export const herald = createHerald({ getUserId: currentUserId, singleton: true });
