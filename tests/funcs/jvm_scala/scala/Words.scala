package words

import funcatron.{FuncRequest, HTTPError}
import java.util.logging.Logger

/** The JVM host's Scala test Func: an object's methods. */
object Words {
  private val log = Logger.getLogger("words")

  def shout(request: FuncRequest): Any = {
    val word = request.parameter("word").toString
    log.info(s"shouting $word")
    java.util.Collections.singletonMap("shouted", word.toUpperCase + "!")
  }

  def count(request: FuncRequest): Any = {
    val text = request.body.asInstanceOf[String]
    if (text.trim.isEmpty) throw new HTTPError(422, "nothing to count")
    java.util.Collections.singletonMap("words", Int.box(text.trim.split("\\s+").length))
  }

  def boom(request: FuncRequest): Any = throw new IllegalArgumentException("scala says no")
}
